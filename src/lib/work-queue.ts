/**
 * A keyed work queue in the manner of client-go's rate-limited workqueue: a key waits in the queue at
 * most once (adds are deduplicated), is never handed to two workers at once (an add while it is being
 * processed marks it dirty and it comes back after `done`), can be delayed (`addAfter`, keeping the
 * earliest due time) and retried with per-key exponential backoff (`addRateLimited`, reset by
 * `forget`). Requests are keys, never events: workers re-read current state for the key.
 * @module
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { systemClock, type CancelTimer, type Clock } from './clock.ts';

export interface WorkQueueOptions {
  readonly clock?: Clock;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

interface Delayed {
  readonly due: number;
  readonly cancel: CancelTimer;
}

export class WorkQueue<K extends string = string> {
  private readonly clock: Clock;
  private readonly backoff: BackoffPolicy;
  private readonly random: () => number;
  /** FIFO of keys ready to be processed; mirrored by `queued` for O(1) dedup. */
  private readonly ready: K[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly dirty = new Set<K>();
  private readonly delayed = new Map<K, Delayed>();
  private readonly failures = new Map<K, number>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
  }

  /** Marks `key` as needing work now. */
  add(key: K): void {
    if (this.shuttingDown) return;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      pending.cancel();
      this.delayed.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.ready.push(key);
  }

  /** Adds `key` after `delayMs`; an earlier pending add of the same key wins over a later one. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const due = this.clock.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      if (pending.due <= due) return;
      pending.cancel();
    }
    const cancel = this.clock.setTimer(delayMs, () => {
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { due, cancel });
  }

  /** Records a failure of `key` and adds it back after its backoff delay; returns that delay. */
  addRateLimited(key: K): number {
    const delay = this.recordFailure(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Records a failure of `key` without scheduling it; returns the backoff delay it has earned. */
  recordFailure(key: K): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    return backoffDelay(this.backoff, failures, this.random);
  }

  /** Consecutive failures recorded for `key`. */
  retries(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** Clears the failure count of `key` (after a success). */
  forget(key: K): void {
    this.failures.delete(key);
  }

  /**
   * The next key to process, waiting until there is one. Resolves undefined once the queue shuts
   * down or `signal` aborts. The caller must call `done(key)` when finished.
   */
  get(signal?: AbortSignal): Promise<K | undefined> {
    const key = this.ready.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown || signal?.aborted === true) return Promise.resolve(undefined);
    return new Promise<K | undefined>((resolve) => {
      const waiter = (next: K | undefined): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(next);
      };
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Ends the processing of `key`; if it was added meanwhile, it goes back in the queue. */
  done(key: K): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /** Keys waiting to be processed now (not counting delayed ones). */
  get length(): number {
    return this.ready.length;
  }

  /** Keys scheduled for later. */
  get delayedCount(): number {
    return this.delayed.size;
  }

  /** Keys being processed. */
  get inFlight(): number {
    return this.processing.size;
  }

  /** Stops handing out keys; pending `get` calls resolve undefined; delayed adds are dropped. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const pending of this.delayed.values()) pending.cancel();
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
