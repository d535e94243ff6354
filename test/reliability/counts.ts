/**
 * What every reliability and security suite reports (issue 8, TARGETS.md "Reliability and security"):
 * counts, not timings-as-assertions. A suite runs shortened inside `npm test` (scale `ci`) and in full
 * behind `npm run bench` (scale `full`); both print one count line and record it: tests into
 * `bench/reports/reliability.json` (merged, one entry per suite), the benchmark into its JSON report.
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../src/devenv/binaries.ts';

export type Scale = 'ci' | 'full';

export interface ScenarioContext {
  readonly scale: Scale;
  log(message: string): void;
}

export interface SuiteCounts {
  readonly suite: string;
  readonly scale: Scale;
  /** Requests or operations tried (attacks, token requests, ARM calls under fault …). */
  readonly attempts: number;
  /** Attempts that did what a legitimate caller wanted (a bound pod's token, a pod converged). */
  readonly successes: number;
  /**
   * Outcomes the target says must never happen: a token for an identity the caller is not bound to,
   * a pod request reaching the node's IMDS, a duplicated or lost assignment, a write inside a
   * Retry-After window, a secret in the logs. Every one is described in {@link breachDetails}.
   */
  readonly breaches: number;
  readonly breachDetails: readonly string[];
  /** Faults injected (kills, restarts, ARM errors, expired watches …). */
  readonly faults: number;
  /** Faults the system recovered from without help. */
  readonly recoveries: number;
  /** Time to recover from each fault, in ms (empty when the suite injects none). */
  readonly recoverMs: readonly number[];
  /** Suite-specific counts (statuses, ARM calls, handles …), each named for what it counts. */
  readonly details: Readonly<Record<string, number | string>>;
  readonly durationMs: number;
}

/** Builds counts as a suite runs; `finish` freezes them. */
export class CountsBuilder {
  attempts = 0;
  successes = 0;
  faults = 0;
  recoveries = 0;
  readonly recoverMs: number[] = [];
  readonly breachDetails: string[] = [];
  readonly details: Record<string, number | string> = {};
  private readonly startedAt = performance.now();

  readonly suite: string;
  readonly scale: Scale;

  constructor(suite: string, scale: Scale) {
    this.suite = suite;
    this.scale = scale;
  }

  breach(description: string): void {
    this.breachDetails.push(description);
  }

  recovered(ms: number): void {
    this.recoveries += 1;
    this.recoverMs.push(Math.round(ms));
  }

  /** Adds `by` to the named detail count. */
  count(name: string, by = 1): void {
    const current = this.details[name];
    this.details[name] = (typeof current === 'number' ? current : 0) + by;
  }

  finish(): SuiteCounts {
    return {
      suite: this.suite,
      scale: this.scale,
      attempts: this.attempts,
      successes: this.successes,
      breaches: this.breachDetails.length,
      breachDetails: [...this.breachDetails],
      faults: this.faults,
      recoveries: this.recoveries,
      recoverMs: [...this.recoverMs],
      details: { ...this.details },
      durationMs: Math.round(performance.now() - this.startedAt),
    };
  }
}

function recoverText(samples: readonly number[]): string {
  if (samples.length === 0) return '-';
  const sorted = [...samples].sort((a, b) => a - b);
  return `median ${sorted[Math.floor((sorted.length - 1) / 2)]} ms, max ${sorted.at(-1)} ms`;
}

/** The one line a suite ends with, e.g. `reliability adversarial (ci): attempts=412 successes=36 breaches=0 …`. */
export function countLine(counts: SuiteCounts): string {
  const details = Object.entries(counts.details)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  return (
    `reliability ${counts.suite} (${counts.scale}): attempts=${counts.attempts} successes=${counts.successes} ` +
    `breaches=${counts.breaches} faults=${counts.faults} recoveries=${counts.recoveries} recover=[${recoverText(counts.recoverMs)}] ` +
    `duration=${(counts.durationMs / 1000).toFixed(1)}s${details === '' ? '' : ` | ${details}`}`
  );
}

export const RELIABILITY_REPORT = path.join(repoRoot, 'bench', 'reports', 'reliability.json');

interface ReliabilityReport {
  readonly updated: string;
  readonly suites: Record<string, SuiteCounts & { readonly line: string; readonly time: string }>;
}

function readReport(file: string): ReliabilityReport {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ReliabilityReport>;
    return { updated: parsed.updated ?? '', suites: parsed.suites ?? {} };
  } catch {
    return { updated: '', suites: {} };
  }
}

/**
 * Prints the count line (through `log`, default stdout) and merges the counts into the reliability
 * report under `<suite>` (scale `ci`) or `<suite>:full`. Returns the line.
 */
export function recordCounts(counts: SuiteCounts, log: (line: string) => void = (line) => { console.log(line); }, file = RELIABILITY_REPORT): string {
  const line = countLine(counts);
  log(line);
  for (const detail of counts.breachDetails.slice(0, 20)) log(`  breach: ${detail}`);
  const report = readReport(file);
  const time = new Date().toISOString();
  const key = counts.scale === 'ci' ? counts.suite : `${counts.suite}:full`;
  const next: ReliabilityReport = { updated: time, suites: { ...report.suites, [key]: { ...counts, line, time } } };
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(next, null, 2)}\n`);
  return line;
}

/** A suite as the benchmark runner and the tests both call it. */
export interface ReliabilityScenario {
  readonly name: string;
  readonly description: string;
  /** Needs root (network namespaces, iptables). */
  readonly needsRoot: boolean;
  run(context: ScenarioContext): Promise<SuiteCounts>;
}
