/**
 * Per-VM throttling of the Managed Identity category of IMDS: at most `requestsPerSecond` requests a
 * second (a token bucket holding one second's worth, so short bursts pass) and `maxConcurrent`
 * requests in flight; beyond either, IMDS answers 429 (azure-protocols.md §1.4: 20/s and 5
 * concurrent). Limits are read on every call, so they can change at run time. The clock is injected.
 * @module
 */

export interface RequestLimits {
  readonly requestsPerSecond: number;
  readonly maxConcurrent: number;
}

/** Real IMDS, Managed Identity category, per VM. */
export const DEFAULT_IMDS_IDENTITY_LIMITS: RequestLimits = { requestsPerSecond: 20, maxConcurrent: 5 };

export type Admission =
  | { readonly admitted: true; /** Call once when the response is done (idempotent). */ readonly release: () => void }
  | { readonly admitted: false; readonly reason: 'rate' | 'concurrency' };

export class IdentityRequestLimiter {
  private readonly now: () => number;
  private tokens: number | undefined;
  private refilledAt = 0;
  private running = 0;

  /** `now` returns epoch milliseconds. */
  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Requests admitted and not yet released. */
  get inFlight(): number {
    return this.running;
  }

  /** Admits a request unless a limit is reached; `false` limits admit everything. */
  admit(limits: RequestLimits | false): Admission {
    if (limits !== false) {
      if (this.running >= limits.maxConcurrent) return { admitted: false, reason: 'concurrency' };
      if (!this.takeToken(limits.requestsPerSecond)) return { admitted: false, reason: 'rate' };
    }
    this.running += 1;
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.running -= 1;
      },
    };
  }

  private takeToken(perSecond: number): boolean {
    const now = this.now();
    const capacity = Math.max(perSecond, 1);
    const elapsedSeconds = this.tokens === undefined ? 0 : Math.max(0, now - this.refilledAt) / 1000;
    this.tokens = Math.min(capacity, (this.tokens ?? capacity) + elapsedSeconds * perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
