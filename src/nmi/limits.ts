/**
 * Admission limits for NMI, shared by its layers: a {@link TokenBucket} (also the token cache's refresh
 * rate), a bounded per-key limiter built from buckets ({@link KeyedRateLimiter}, one bucket per pod:
 * http/rate-limit.ts) and the node-wide {@link UpstreamLimiter} that keeps calls to IMDS within what a
 * VM allows (about 20 identity requests/s and 5 concurrent: tokens/limited-source.ts). Time is passed
 * in (`now`) or injected ({@link Clock}); nothing here sleeps for real in tests.
 * @module
 */
import { systemClock, type CancelTimer, type Clock } from '../lib/clock.ts';
import { RetryAfterError } from '../lib/errors.ts';
import { LruMap } from '../lib/lru-map.ts';

export interface RateOptions {
  /** Sustained rate, tokens per second (> 0). */
  readonly ratePerSec: number;
  /** Bucket capacity: how many may pass at once after a quiet period (≥ 1). */
  readonly burst: number;
}

function checkRate(rate: RateOptions): void {
  if (!(rate.ratePerSec > 0 && Number.isFinite(rate.ratePerSec))) throw new RangeError(`ratePerSec must be a positive number, got ${String(rate.ratePerSec)}`);
  if (!(rate.burst >= 1 && Number.isFinite(rate.burst))) throw new RangeError(`burst must be ≥ 1, got ${String(rate.burst)}`);
}

/** A classic token bucket; starts full. Pure: the caller passes the time. */
export class TokenBucket {
  private readonly ratePerMs: number;
  private readonly burst: number;
  private tokens: number;
  private lastMs: number;

  constructor(rate: RateOptions, nowMs: number) {
    checkRate(rate);
    this.ratePerMs = rate.ratePerSec / 1000;
    this.burst = rate.burst;
    this.tokens = rate.burst;
    this.lastMs = nowMs;
  }

  /** Takes one token if available. */
  tryTake(nowMs: number): boolean {
    this.refill(nowMs);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0 if one is now). */
  retryAfterMs(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.ratePerMs);
  }

  /** Whether the bucket is full, i.e. forgetting it changes nothing. */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= this.burst;
  }

  private refill(nowMs: number): void {
    // A clock going backwards never adds tokens.
    const elapsed = Math.max(0, nowMs - this.lastMs);
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.ratePerMs);
    this.lastMs = Math.max(this.lastMs, nowMs);
  }
}

export interface KeyedRateLimiterOptions extends Partial<RateOptions> {
  /** Most keys tracked; the least recently used bucket is forgotten beyond it. Default 10,000. */
  readonly maxKeys?: number;
  readonly clock?: Clock;
}

/** Default per-pod limit: 10 requests/s, bursts of 20. */
export const DEFAULT_PER_POD_RATE: RateOptions = Object.freeze({ ratePerSec: 10, burst: 20 });

/**
 * One token bucket per key (e.g. pod IP or UID), bounded in memory. Forgetting an LRU bucket at worst
 * gives that key a fresh burst; with `maxKeys` well above the pods on a node that never happens.
 */
export class KeyedRateLimiter {
  private readonly rate: RateOptions;
  private readonly clock: Clock;
  /** Buckets by key, at most `maxKeys`; the least recently used is forgotten beyond. */
  private readonly buckets: LruMap<string, TokenBucket>;

  constructor(options: KeyedRateLimiterOptions = {}) {
    this.rate = { ratePerSec: options.ratePerSec ?? DEFAULT_PER_POD_RATE.ratePerSec, burst: options.burst ?? DEFAULT_PER_POD_RATE.burst };
    checkRate(this.rate);
    const maxKeys = options.maxKeys ?? 10_000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be a positive integer, got ${String(maxKeys)}`);
    this.buckets = new LruMap(maxKeys);
    this.clock = options.clock ?? systemClock;
  }

  /** Admits one request for `key`, or throws a {@link RetryAfterError} (code `PI_RATE_LIMITED`) saying how long to wait. */
  take(key: string): void {
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.rate, now);
      this.buckets.set(key, bucket);
    }
    if (!bucket.tryTake(now)) {
      const wait = bucket.retryAfterMs(now);
      throw new RetryAfterError(`too many token requests; retry in ${String(wait)} ms`, wait, { code: 'PI_RATE_LIMITED' });
    }
  }

  /** Forgets `key` (e.g. the pod was deleted). */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}

export interface UpstreamLimiterOptions {
  /** Most calls running at once. Default 5 (IMDS per VM). */
  readonly maxConcurrent?: number;
  /** Most calls started in any window of `windowMs`. Default 20. */
  readonly maxPerWindow?: number;
  /** Default 1,000 ms. */
  readonly windowMs?: number;
  /** Most callers waiting; beyond it `run` rejects at once. Default 1,000. */
  readonly maxQueue?: number;
  /** Longest a caller waits for a slot before `run` rejects; default: no limit. */
  readonly queueTimeoutMs?: number;
  readonly clock?: Clock;
}

export interface UpstreamLimiterStats {
  active: number;
  queued: number;
  started: number;
  /** Rejected because the queue was full. */
  rejectedQueueFull: number;
  /** Rejected after waiting `queueTimeoutMs`. */
  timedOut: number;
  /** Waiters whose signal aborted while queued. */
  aborted: number;
}

interface Waiter {
  readonly grant: () => void;
  readonly fail: (error: Error) => void;
}

/**
 * Node-wide gate in front of the upstream token endpoint: at most `maxConcurrent` calls at once and at
 * most `maxPerWindow` starts in any sliding window of `windowMs` (a sliding window rather than a token
 * bucket, so that "20 per second" holds for every one-second interval, bursts included). Callers wait
 * in FIFO order; the queue is bounded and the wait can time out. Both rejections are
 * {@link RetryAfterError}s with code `PI_UPSTREAM_BUSY`.
 */
export class UpstreamLimiter {
  private readonly maxConcurrent: number;
  private readonly maxPerWindow: number;
  private readonly windowMs: number;
  private readonly maxQueue: number;
  private readonly queueTimeoutMs: number | undefined;
  private readonly clock: Clock;
  private readonly queue: Waiter[] = [];
  /** Start times of the last `maxPerWindow` calls, oldest first. */
  private readonly starts: number[] = [];
  private active = 0;
  /** Timer that wakes the queue when the rate window frees a slot. */
  private wakeTimer: CancelTimer | undefined;
  private readonly counters = { started: 0, rejectedQueueFull: 0, timedOut: 0, aborted: 0 };

  constructor(options: UpstreamLimiterOptions = {}) {
    this.maxConcurrent = options.maxConcurrent ?? 5;
    this.maxPerWindow = options.maxPerWindow ?? 20;
    this.windowMs = options.windowMs ?? 1_000;
    this.maxQueue = options.maxQueue ?? 1_000;
    this.queueTimeoutMs = options.queueTimeoutMs;
    this.clock = options.clock ?? systemClock;
    for (const [name, value] of [
      ['maxConcurrent', this.maxConcurrent],
      ['maxPerWindow', this.maxPerWindow],
      ['windowMs', this.windowMs],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
    }
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0) throw new RangeError(`maxQueue must be an integer ≥ 0, got ${String(this.maxQueue)}`);
    if (this.queueTimeoutMs !== undefined && !(this.queueTimeoutMs >= 0)) throw new RangeError(`queueTimeoutMs must be ≥ 0, got ${String(this.queueTimeoutMs)}`);
  }

  /** Runs `fn` once a slot is free; rejects without running it if the queue is full, the wait times out or `signal` aborts first. */
  run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    // Fast path: a free slot and nobody waiting runs `fn` synchronously (no extra turn of the event loop).
    if (this.queue.length === 0 && this.canStart(this.clock.now())) {
      this.start();
      return this.runStarted(fn);
    }
    return this.enqueue(signal).then(() => this.runStarted(fn));
  }

  stats(): UpstreamLimiterStats {
    return { ...this.counters, active: this.active, queued: this.queue.length };
  }

  /** Runs `fn` in a slot already taken, releasing it when `fn` settles (or throws synchronously). */
  private async runStarted<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      this.active--;
      this.pump();
    }
  }

  /** Waits in line for a slot; resolves once the slot is taken on the caller's behalf. */
  private enqueue(signal: AbortSignal | undefined): Promise<void> {
    if (this.queue.length >= this.maxQueue) {
      this.counters.rejectedQueueFull++;
      return Promise.reject(new RetryAfterError('too many token requests waiting for the upstream endpoint', this.windowMs, { code: 'PI_UPSTREAM_BUSY' }));
    }
    return new Promise<void>((resolve, reject) => {
      let cancelTimeout: CancelTimer | undefined;
      const settle = (): void => {
        cancelTimeout?.();
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        grant: () => {
          settle();
          resolve();
        },
        fail: (error) => {
          settle();
          const index = this.queue.indexOf(waiter);
          if (index >= 0) this.queue.splice(index, 1);
          reject(error);
        },
      };
      const onAbort = (): void => {
        this.counters.aborted++;
        waiter.fail(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.queueTimeoutMs !== undefined) {
        cancelTimeout = this.clock.setTimer(this.queueTimeoutMs, () => {
          this.counters.timedOut++;
          waiter.fail(new RetryAfterError(`no upstream slot within ${String(this.queueTimeoutMs)} ms`, this.windowMs, { code: 'PI_UPSTREAM_BUSY' }));
        });
      }
      this.queue.push(waiter);
      this.pump();
    });
  }

  private canStart(now: number): boolean {
    if (this.active >= this.maxConcurrent) return false;
    this.dropOldStarts(now);
    return this.starts.length < this.maxPerWindow;
  }

  private dropOldStarts(now: number): void {
    while (this.starts.length > 0 && (this.starts[0] ?? 0) <= now - this.windowMs) this.starts.shift();
  }

  private start(): void {
    this.active++;
    this.counters.started++;
    this.starts.push(this.clock.now());
  }

  /** Grants slots to waiters in order while capacity allows; otherwise arranges to be called again. */
  private pump(): void {
    for (;;) {
      const head = this.queue[0];
      if (head === undefined) return;
      const now = this.clock.now();
      if (this.active >= this.maxConcurrent) return; // a finishing call pumps again
      if (!this.canStart(now)) {
        this.scheduleWake(now);
        return;
      }
      this.queue.shift();
      this.start();
      head.grant();
    }
  }

  private scheduleWake(now: number): void {
    if (this.wakeTimer !== undefined) return;
    const oldest = this.starts[0] ?? now;
    this.wakeTimer = this.clock.setTimer(oldest + this.windowMs - now, () => {
      this.wakeTimer = undefined;
      this.pump();
    });
  }
}
