/**
 * `npm run bench [-- --quick] [-- --only NAME[,NAME]] [-- --compare FILE] [-- --save-as NAME]`: runs the
 * benchmark suites one after another, prints a table and writes a JSON report to bench/reports/
 * (latest.json plus a timestamped copy, plus NAME with --save-as). `--compare` adds an earlier
 * report's medians (matched by suite and figure name) as a "before" column and to each figure in the
 * JSON. BENCH_SOURCE_ROOT measures another checkout's build (bench/lib/compiled-build.ts).
 * Speed targets live here, never as timed assertions in tests.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { beforeIndex, loadReport, lookupBefore } from './lib/compare.ts';
import { sourceRoot } from './lib/compiled-build.ts';
import { machineInfo, meetsTarget, renderTable } from './lib/report.ts';
import type { Suite, SuiteResult } from './lib/types.ts';
import { controlPlaneStart } from './suites/control-plane-start.ts';
import { federatedSuite } from './suites/federated.ts';
import { micSuite } from './suites/mic.ts';
import { nmiSuite } from './suites/nmi.ts';
import { reliabilitySuite } from './suites/reliability.ts';
import { soakSuite } from './suites/soak.ts';

const SUITES: readonly Suite[] = [controlPlaneStart, micSuite, nmiSuite, federatedSuite, reliabilitySuite, soakSuite];

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, list: { type: 'boolean', default: false }, compare: { type: 'string' }, 'save-as': { type: 'string' } } });
  if (values.list) {
    for (const suite of SUITES) console.log(`${suite.name}\t${suite.description}`);
    return 0;
  }
  const only = values.only?.split(',').map((name) => name.trim());
  const unknown = only?.filter((name) => !SUITES.some((suite) => suite.name === name)) ?? [];
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${SUITES.map((suite) => suite.name).join(', ')}`);
    return 2;
  }
  const selected = SUITES.filter((suite) => only === undefined || only.includes(suite.name));
  const compared = values.compare === undefined ? undefined : { file: values.compare, report: loadReport(values.compare) };
  const before = compared === undefined ? undefined : beforeIndex(compared.report);
  const machine = machineInfo();
  console.log(`machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}; quick=${values.quick}; measuring ${sourceRoot()}`);

  const results = new Map<string, SuiteResult>();
  const failures: string[] = [];
  for (const suite of selected) {
    console.log(`\n== ${suite.name}: ${suite.description}`);
    try {
      results.set(suite.name, await suite.run({ quick: values.quick, log: (message) => { console.log(`   ${message}`); } }));
    } catch (error) {
      failures.push(suite.name);
      console.error(`suite ${suite.name} failed:`, error);
    }
  }

  console.log(`\n${renderTable(results, before)}`);
  const report = {
    time: new Date().toISOString(),
    machine,
    quick: values.quick,
    sourceRoot: sourceRoot(),
    ...(compared === undefined ? {} : { before: { file: compared.file, time: compared.report.time, quick: compared.report.quick, sourceRoot: compared.report.sourceRoot ?? 'unknown' } }),
    suites: Object.fromEntries(
      [...results].map(([name, result]) => [name, {
        ...result,
        figures: result.figures.map((figure) => {
          const earlier = lookupBefore(before, name, figure.name);
          return { ...figure, met: meetsTarget(figure), ...(earlier === undefined ? {} : { before: earlier }) };
        }),
      }]),
    ),
    failedSuites: failures,
  };
  mkdirSync('bench/reports', { recursive: true });
  const json = JSON.stringify(report, null, 2);
  writeFileSync('bench/reports/latest.json', json);
  writeFileSync(`bench/reports/${report.time.replace(/[:.]/g, '-')}.json`, json);
  const saveAs = values['save-as'];
  if (saveAs !== undefined) writeFileSync(`bench/reports/${saveAs.replace(/[/\\]/g, '_')}`, json);
  console.log(`\nreport: bench/reports/latest.json${saveAs === undefined ? '' : ` and bench/reports/${saveAs}`}`);
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = await main();
