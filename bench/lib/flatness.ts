/**
 * Is a series of RSS samples flat? Least-squares slope (MB/min) over the measured window, and the
 * median of its first and of its last window (one minute in a full soak; a third of a short one).
 * Medians, because one sample on a shared machine can catch a GC or a burst.
 * @module
 */

export interface RssSample {
  /** Since the measured window began. */
  readonly atMs: number;
  readonly rssMb: number;
}

export interface Flatness {
  readonly samples: number;
  readonly durationMs: number;
  readonly windowMs: number;
  readonly firstMb: number;
  readonly lastMb: number;
  /** (last − first) / first, in %. */
  readonly growthPercent: number;
  readonly slopeMbPerMinute: number;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Least-squares slope of rssMb over atMs, in MB per minute (NaN for fewer than 2 samples or no spread in time). */
export function slopeMbPerMinute(samples: readonly RssSample[]): number {
  if (samples.length < 2) return Number.NaN;
  const meanT = samples.reduce((sum, sample) => sum + sample.atMs, 0) / samples.length;
  const meanY = samples.reduce((sum, sample) => sum + sample.rssMb, 0) / samples.length;
  let covariance = 0;
  let variance = 0;
  for (const sample of samples) {
    covariance += (sample.atMs - meanT) * (sample.rssMb - meanY);
    variance += (sample.atMs - meanT) ** 2;
  }
  return variance === 0 ? Number.NaN : (covariance / variance) * 60_000;
}

/** The flatness of `samples` (sorted by time) with first/last windows of `windowMs`, at most a third of the run each. */
export function flatness(samples: readonly RssSample[], windowMs = 60_000): Flatness {
  const first = samples[0]?.atMs ?? 0;
  const end = samples[samples.length - 1]?.atMs ?? 0;
  const durationMs = end - first;
  const window = Math.min(windowMs, durationMs / 3);
  const firstMb = median(samples.filter((sample) => sample.atMs <= first + window).map((sample) => sample.rssMb));
  const lastMb = median(samples.filter((sample) => sample.atMs >= end - window).map((sample) => sample.rssMb));
  return { samples: samples.length, durationMs, windowMs: window, firstMb, lastMb, growthPercent: ((lastMb - firstMb) / firstMb) * 100, slopeMbPerMinute: slopeMbPerMinute(samples) };
}
