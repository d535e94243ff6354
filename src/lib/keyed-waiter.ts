/**
 * Lets a token request that waits for its pod's AzureAssignedIdentity (standard mode) wake up as soon
 * as that AAI changes, instead of sleeping the whole retry interval as upstream did: the first token
 * for a new pod is served milliseconds after MIC marks it Assigned. The interval stays the upper bound,
 * so attempts are never more frequent than upstream's and never fewer.
 * @module
 */
import type { Clock } from '../lib/clock.ts';

export class AssignmentWaiter {
  private readonly clock: Clock;
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Something about the AAIs of pod `namespace/name` changed. */
  notify(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const wake = this.waiters.get(key);
    if (wake === undefined) return;
    this.waiters.delete(key);
    for (const resolve of wake) resolve();
  }

  /**
   * Resolves after `ms`, on a change for the pod, or when `signal` aborts (never rejects: the caller
   * checks the signal).
   */
  wait(namespace: string, name: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted === true) return Promise.resolve();
    const key = `${namespace}/${name}`;
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
