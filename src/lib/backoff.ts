/**
 * Exponential backoff with jitter, as a pure function: the delay before retry number `failures`.
 * Full jitter spreads retries of many keys that failed together (e.g. every VMSS after an ARM outage).
 * @module
 */

export interface BackoffPolicy {
  /** Delay after the first failure. */
  readonly baseMs: number;
  /** Upper bound of any delay. */
  readonly maxMs: number;
  /** Fraction of the delay that is randomised (0 = none, 1 = anywhere between 0 and the delay). */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 5 * 60_000, jitter: 0.2 };

/**
 * Delay before the retry that follows `failures` consecutive failures (1 = first failure):
 * base × 2^(failures−1), capped, minus a random part of up to `jitter` of it.
 */
export function backoffDelay(policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  if (failures <= 0) return 0;
  const exponential = policy.baseMs * 2 ** Math.min(failures - 1, 52);
  const capped = Math.min(policy.maxMs, exponential);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.round(capped * (1 - jitter * random()));
}

/** Parses an HTTP `Retry-After` (seconds or HTTP date) into milliseconds from `nowMs`; undefined if unusable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}
