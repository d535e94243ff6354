/**
 * Before/after: a report written earlier (e.g. bench/reports/before-17.json, the same benchmark code run
 * against an earlier build with BENCH_SOURCE_ROOT) is matched figure by figure (suite + name) with
 * this run's, so the table and the JSON carry both from one machine.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Summary } from './stats.ts';

export interface ReportedFigure {
  readonly name: string;
  readonly unit: string;
  readonly summary: Summary;
  readonly met?: boolean;
  readonly notes?: string;
}

export interface SavedReport {
  readonly time: string;
  readonly quick: boolean;
  readonly sourceRoot?: string;
  readonly machine?: Record<string, unknown>;
  readonly suites: Record<string, { readonly figures: readonly ReportedFigure[] }>;
}

export interface Before {
  readonly median: number;
  readonly met?: boolean;
}

export function loadReport(file: string): SavedReport {
  return JSON.parse(readFileSync(file, 'utf8')) as SavedReport;
}

const keyOf = (suite: string, figure: string): string => `${suite}\u0000${figure}`;

/** Pure: the earlier figures by suite and name. */
export function beforeIndex(report: SavedReport): Map<string, Before> {
  const index = new Map<string, Before>();
  for (const [suite, result] of Object.entries(report.suites)) {
    for (const figure of result.figures) index.set(keyOf(suite, figure.name), { median: figure.summary.median, ...(figure.met === undefined ? {} : { met: figure.met }) });
  }
  return index;
}

export function lookupBefore(index: ReadonlyMap<string, Before> | undefined, suite: string, figure: string): Before | undefined {
  return index?.get(keyOf(suite, figure));
}
