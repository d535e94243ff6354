/**
 * The contract between the benchmark runner and each suite. A suite measures, the runner reports:
 * every figure is printed in the table and written to the JSON report with its summary and, where
 * TARGETS.md sets one, the target and whether it was met.
 * @module
 */
import type { Summary } from './stats.ts';

/** How a figure compares with its target: `max` means smaller is better, `min` larger is better. */
export interface Target {
  readonly kind: 'max' | 'min';
  readonly value: number;
  /** Which statistic the target applies to (default median). */
  readonly statistic?: 'median' | 'p95' | 'p99' | 'max' | 'mean';
  /** Where the target comes from, e.g. "TARGETS.md: MIC pod → Assigned". */
  readonly source: string;
}

export interface Figure {
  readonly name: string;
  readonly unit: string;
  readonly summary: Summary;
  readonly target?: Target;
  /** Free-form context: parameters, baseline figures, ratios. */
  readonly notes?: string;
  /** Structured context for the JSON report, e.g. the split of RSS into V8 heap, code, native and file pages. */
  readonly details?: Readonly<Record<string, number | string | Readonly<Record<string, number>>>>;
}

export interface SuiteContext {
  /** Shorter runs (CI); suites scale their repetitions down. */
  readonly quick: boolean;
  log(message: string): void;
}

export interface SuiteResult {
  readonly parameters: Record<string, string | number | boolean>;
  readonly figures: readonly Figure[];
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  run(context: SuiteContext): Promise<SuiteResult>;
}
