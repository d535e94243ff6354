/**
 * `node test/reliability/ci-summary.ts <test output file>…`: the end of a CI run. Scans the whole
 * captured test output for credentials (the suites scan their processes' output themselves; this
 * catches anything a test or a failure message printed), then prints every reliability suite's count
 * line from bench/reports/reliability.json. Exit 1 on a finding or when a suite reported a breach.
 * @module
 */
import { readFileSync } from 'node:fs';
import { RELIABILITY_REPORT, type SuiteCounts } from './counts.ts';
import { scanForSecrets } from './secret-scan.ts';

const files = process.argv.slice(2);
let failed = false;
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const findings = scanForSecrets(file, text);
  console.log(`secrets in ${file}: ${findings.length} finding(s) in ${text.split('\n').length} lines`);
  for (const finding of findings.slice(0, 20)) console.log(`  ${finding.kind} at line ${finding.line}: ${finding.excerpt}`);
  if (findings.length > 0) failed = true;
}

let suites: Record<string, SuiteCounts & { line: string }> = {};
try {
  suites = (JSON.parse(readFileSync(RELIABILITY_REPORT, 'utf8')) as { suites?: typeof suites }).suites ?? {};
} catch {
  console.log(`no reliability report at ${RELIABILITY_REPORT}`);
}
for (const [name, counts] of Object.entries(suites).sort(([a], [b]) => a.localeCompare(b))) {
  console.log(counts.line);
  if (counts.breaches > 0) {
    failed = true;
    console.log(`  ${name}: ${counts.breaches} breach(es)`);
  }
}
process.exitCode = failed ? 1 : 0;
