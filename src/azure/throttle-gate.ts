/**
 * Holds back ARM calls after a 429: once ARM answered "Retry-After: N", no call of the same kind
 * (reads or writes) for that subscription goes out until N has passed — such calls fail at once,
 * without a request. Upstream kept the same "do not call before" deadlines per client
 * (aad-pod-identity-behaviour.md §2.6, PR #742); sending inside the window only earns a new, longer
 * Retry-After (azure-protocols.md §3.6). The window is ARM's own, honoured exactly: the refused
 * call's ThrottledError is an exact RetryAfterError, which MIC's loop retries when the window ends
 * without growing its backoff (MIC's timing table: src/mic/retry-policy.ts).
 * @module
 */
import type { Clock } from '../lib/clock.ts';
import type { ThrottleScope } from './errors.ts';

export class ThrottleGate {
  private readonly clock: Clock;
  /** `<subscription lower-cased>/<scope>` → epoch ms before which calls are refused. */
  private readonly closedUntil = new Map<string, number>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  private static key(subscriptionId: string, scope: ThrottleScope): string {
    return `${subscriptionId.toLowerCase()}/${scope}`;
  }

  /** Milliseconds until calls of `scope` may go out again for the subscription; 0 when they may now. */
  remainingMs(subscriptionId: string, scope: ThrottleScope): number {
    const key = ThrottleGate.key(subscriptionId, scope);
    const until = this.closedUntil.get(key);
    if (until === undefined) return 0;
    const remaining = until - this.clock.now();
    if (remaining > 0) return remaining;
    this.closedUntil.delete(key);
    return 0;
  }

  /** Refuses calls of `scope` for `retryAfterMs` from now; an existing later deadline is kept. */
  close(subscriptionId: string, scope: ThrottleScope, retryAfterMs: number): void {
    if (!(retryAfterMs > 0)) return;
    const key = ThrottleGate.key(subscriptionId, scope);
    const until = this.clock.now() + retryAfterMs;
    this.closedUntil.set(key, Math.max(until, this.closedUntil.get(key) ?? 0));
  }
}
