/**
 * Resource samples of a running MIC or NMI for the soak suite: RSS and open file descriptors from
 * /proc, heap used and active handles from the process's prom-client default metrics (both register
 * them), and the flatness rule that turns a series of samples into breaches.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ResourceSample {
  readonly atMs: number;
  readonly rssMb: number;
  readonly fds: number;
  /** `nodejs_heap_size_used_bytes` in MB; NaN when the metrics port did not answer. */
  readonly heapUsedMb: number;
  /** `nodejs_active_handles_total`; NaN when the metrics port did not answer. */
  readonly handles: number;
  /** `nodejs_heap_size_total_bytes` and `nodejs_external_memory_bytes` in MB: what RSS holds besides live objects. */
  readonly heapTotalMb: number;
  readonly externalMb: number;
}

export type SampleField = 'rssMb' | 'fds' | 'heapUsedMb' | 'handles' | 'heapTotalMb' | 'externalMb';

/** Growth bounds (absolute, and for RSS also relative) beyond which a series is not flat. */
export interface FlatnessBound {
  readonly field: SampleField;
  /** Growth allowed in the field's unit. */
  readonly absolute: number;
  /** Growth allowed as a fraction of the baseline (the larger of the two bounds applies). */
  readonly relative?: number;
}

/** RSS may grow max(20 MB, 25 %), fds and handles 20: what a leak over minutes would exceed and noise would not. */
export const FLATNESS_BOUNDS: readonly FlatnessBound[] = [
  { field: 'rssMb', absolute: 20, relative: 0.25 },
  { field: 'fds', absolute: 20 },
  { field: 'handles', absolute: 20 },
];

export { pidWithArgument } from '../../src/devenv/process.ts';

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? Number.NaN) / 1024;
}

function metricValue(text: string, name: string): number {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return Number(match?.[1] ?? Number.NaN);
}

/** One sample of `pid`; the metrics scrape is bounded by a 2 s timeout. */
export async function sampleProcess(pid: number, metricsPort: number, startedAt: number): Promise<ResourceSample> {
  let heapUsedMb = Number.NaN;
  let handles = Number.NaN;
  let heapTotalMb = Number.NaN;
  let externalMb = Number.NaN;
  try {
    const response = await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const text = await response.text();
    heapUsedMb = metricValue(text, 'nodejs_heap_size_used_bytes') / 1024 / 1024;
    handles = metricValue(text, 'nodejs_active_handles_total');
    heapTotalMb = metricValue(text, 'nodejs_heap_size_total_bytes') / 1024 / 1024;
    externalMb = metricValue(text, 'nodejs_external_memory_bytes') / 1024 / 1024;
  } catch {
    // A missed scrape leaves NaN; /proc still counts.
  }
  return { atMs: Math.round(performance.now() - startedAt), rssMb: rssMb(pid), fds: readdirSync(`/proc/${pid}/fd`).length, heapUsedMb, handles, heapTotalMb, externalMb };
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export interface FlatnessResult {
  readonly field: SampleField;
  /** Median of the second quarter of the samples (the first is warm-up). */
  readonly baseline: number;
  /** Median of the last quarter. */
  readonly end: number;
  readonly allowed: number;
  readonly breached: boolean;
}

/**
 * Compares the median of the last quarter of `samples` with the median of the second quarter (the
 * first quarter is warm-up: module loading, informer lists, the first tokens). Medians, not single
 * samples, because on a shared 2-core machine one sample can catch a GC or a burst of requests.
 */
export function flatness(samples: readonly ResourceSample[], bounds: readonly FlatnessBound[] = FLATNESS_BOUNDS): FlatnessResult[] {
  if (samples.length < 8) return [];
  const quarter = Math.floor(samples.length / 4);
  const second = samples.slice(quarter, 2 * quarter);
  const last = samples.slice(samples.length - quarter);
  return bounds.flatMap((bound) => {
    const baseline = median(second.map((sample) => sample[bound.field]));
    const end = median(last.map((sample) => sample[bound.field]));
    if (!Number.isFinite(baseline) || !Number.isFinite(end)) return [];
    const allowed = Math.max(bound.absolute, (bound.relative ?? 0) * baseline);
    return [{ field: bound.field, baseline, end, allowed, breached: end - baseline > allowed }];
  });
}
