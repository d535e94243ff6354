/**
 * Waiting for "something about this key changed", bounded by a timeout: a waiter sleeps at most `ms`
 * and wakes early when {@link KeyedWaiter.notify} names its key. NMI uses it so that a request waiting
 * for its pod's assignment (or for its pod's address to reach the cache) is answered milliseconds after
 * the change, while the timeout keeps polling no more frequent than before.
 * @module
 */
import type { Clock } from './clock.ts';

export class KeyedWaiter {
  private readonly clock: Clock;
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Something about `key` changed: wake its waiters. */
  notify(key: string): void {
    const wake = this.waiters.get(key);
    if (wake === undefined) return;
    this.waiters.delete(key);
    for (const resolve of wake) resolve();
  }

  /** Resolves after `ms`, on a change of `key`, or when `signal` aborts (never rejects: the caller checks the signal). */
  wait(key: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted === true) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let set = this.waiters.get(key);
      if (set === undefined) {
        set = new Set();
        this.waiters.set(key, set);
      }
      const done = (): void => {
        cancel();
        signal?.removeEventListener('abort', done);
        const current = this.waiters.get(key);
        current?.delete(done);
        if (current?.size === 0) this.waiters.delete(key);
        resolve();
      };
      const cancel = this.clock.setTimer(ms, done);
      set.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Requests currently waiting (for metrics and tests). */
  get waiting(): number {
    let count = 0;
    for (const set of this.waiters.values()) count += set.size;
    return count;
  }
}
