/**
 * The per-pod rate limit of token requests, with a tarpit: a refusal (429 + Retry-After) is held back
 * for up to a second, at most {@link TARPIT_LIMIT} at once per address. A client that floods in a
 * closed loop is slowed to its connection count per second instead of costing NMI thousands of
 * refusals per second, which keeps other pods' latency flat.
 * @module
 */
import type { Clock } from '../../lib/clock.ts';
import { describeError, findInChain, RetryAfterError } from '../../lib/errors.ts';
import type { KeyedRateLimiter } from '../limits.ts';
import { tooManyRequests, type ImdsError } from './imds-errors.ts';

/** Refusals held back per address at most, and for how long each. */
const TARPIT_LIMIT = 64;
const TARPIT_MAX_MS = 1_000;

export class PodRateLimit {
  private readonly limiter: KeyedRateLimiter;
  private readonly clock: Clock;
  /** Refusals being held back, by address. */
  private readonly tarpitted = new Map<string, number>();

  constructor(limiter: KeyedRateLimiter, clock: Clock) {
    this.limiter = limiter;
    this.clock = clock;
  }

  /**
   * undefined when `address` may go on — synchronously, so an admitted request (every request of a
   * well-behaved pod) costs no promise; else the 429 to answer, once it has been held back.
   */
  refusal(address: string, signal: AbortSignal | undefined): Promise<ImdsError> | undefined {
    try {
      this.limiter.take(address);
      return undefined;
    } catch (error) {
      return this.holdBack(address, error, signal);
    }
  }

  private async holdBack(address: string, error: unknown, signal: AbortSignal | undefined): Promise<ImdsError> {
    const wait = findInChain(error, RetryAfterError)?.retryAfterMs ?? 1_000;
    const held = this.tarpitted.get(address) ?? 0;
    if (held < TARPIT_LIMIT) {
      this.tarpitted.set(address, held + 1);
      try {
        await this.clock.sleep(Math.min(wait, TARPIT_MAX_MS), signal).catch(() => undefined);
      } finally {
        const now = (this.tarpitted.get(address) ?? 1) - 1;
        if (now <= 0) this.tarpitted.delete(address);
        else this.tarpitted.set(address, now);
      }
    }
    return tooManyRequests(describeError(error), wait);
  }
}
