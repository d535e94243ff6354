/**
 * Client-side pacing of Kubernetes requests, as client-go's `rest.Config{QPS, Burst}`: every request
 * and every watch opening takes one token from a bucket that refills at `qps` up to `burst`. A caller
 * over the rate waits its turn (golang.org/x/time/rate's reservations, in arrival order) instead of
 * failing. The arithmetic ({@link reserve}) is pure; {@link RequestLimiter} only sleeps.
 * @module
 */
import { systemClock, type Clock } from '../lib/clock.ts';

export interface ClientRate {
  /** Sustained requests per second (> 0). */
  readonly qps: number;
  /** Requests that may go at once after a quiet period (an integer ≥ 1). */
  readonly burst: number;
}

export interface BucketState {
  /** May go below 0: each waiting caller holds a token not yet refilled. */
  readonly tokens: number;
  readonly atMs: number;
}

export function fullBucket(rate: ClientRate, nowMs: number): BucketState {
  return { tokens: rate.burst, atMs: nowMs };
}

/** Takes one token at `nowMs`: the bucket after it, and how long the caller waits before sending. */
export function reserve(state: BucketState, rate: ClientRate, nowMs: number): { readonly state: BucketState; readonly waitMs: number } {
  // A clock going backwards never adds tokens.
  const elapsedMs = Math.max(0, nowMs - state.atMs);
  const tokens = Math.min(rate.burst, state.tokens + (elapsedMs * rate.qps) / 1000) - 1;
  const waitMs = tokens >= 0 ? 0 : Math.ceil((-tokens * 1000) / rate.qps);
  return { state: { tokens, atMs: Math.max(state.atMs, nowMs) }, waitMs };
}

export function checkClientRate(rate: ClientRate): void {
  if (!(Number.isFinite(rate.qps) && rate.qps > 0)) throw new RangeError(`qps must be a positive number, got ${String(rate.qps)}`);
  if (!(Number.isSafeInteger(rate.burst) && rate.burst >= 1)) throw new RangeError(`burst must be an integer ≥ 1, got ${String(rate.burst)}`);
}

/** One bucket shared by every request of a client. */
export class RequestLimiter {
  readonly rate: ClientRate;
  private readonly clock: Clock;
  private state: BucketState;

  constructor(rate: ClientRate, clock: Clock = systemClock) {
    checkClientRate(rate);
    this.rate = rate;
    this.clock = clock;
    this.state = fullBucket(rate, clock.now());
  }

  /**
   * Resolves when the caller may send; rejects with the signal's reason if it aborts first. An
   * aborted wait keeps its token, so pacing errs on the slow side and never exceeds the rate.
   */
  async wait(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const reserved = reserve(this.state, this.rate, this.clock.now());
    this.state = reserved.state;
    if (reserved.waitMs > 0) await this.clock.sleep(reserved.waitMs, signal);
  }
}
