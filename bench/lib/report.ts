/**
 * Renders benchmark results as a readable table and as the JSON report.
 * @module
 */
import { cpus, totalmem } from 'node:os';
import { lookupBefore, type Before } from './compare.ts';
import type { Figure, SuiteResult, Target } from './types.ts';

export interface MachineInfo {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
}

export function machineInfo(): MachineInfo {
  const cpuList = cpus();
  return {
    cores: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Whether `figure` meets its target; undefined when it has none. */
export function meetsTarget(figure: Figure): boolean | undefined {
  const target: Target | undefined = figure.target;
  if (target === undefined) return undefined;
  const value = figure.summary[target.statistic ?? 'median'];
  return target.kind === 'max' ? value <= target.value : value >= target.value;
}

const format = (value: number): string => (Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3));

/** The table; with `before` (figures of an earlier report by suite and name) a column of its medians and whether they met the target. */
export function renderTable(results: ReadonlyMap<string, SuiteResult>, before?: ReadonlyMap<string, Before>): string {
  const header = ['suite', 'figure', 'unit', 'n', 'median', 'p99', 'max', 'target', 'ok'];
  const rows: string[][] = [before === undefined ? header : [...header, 'before', 'ok before']];
  for (const [suite, result] of results) {
    for (const figure of result.figures) {
      const target = figure.target;
      const ok = meetsTarget(figure);
      const row = [
        suite,
        figure.name,
        figure.unit,
        String(figure.summary.count),
        format(figure.summary.median),
        format(figure.summary.p99),
        format(figure.summary.max),
        target === undefined ? '' : `${target.kind === 'max' ? '≤' : '≥'} ${format(target.value)} (${target.statistic ?? 'median'})`,
        ok === undefined ? '' : ok ? 'yes' : 'NO',
      ];
      if (before !== undefined) {
        const earlier = lookupBefore(before, suite, figure.name);
        row.push(earlier === undefined ? '-' : format(earlier.median), earlier?.met === undefined ? '' : earlier.met ? 'yes' : 'NO');
      }
      rows.push(row);
    }
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}
