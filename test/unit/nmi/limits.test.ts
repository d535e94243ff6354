import { describe, expect, it } from 'vitest';
import { flushMicrotasks, ManualClock } from '../../support/manual-clock.ts';
import { RetryAfterError } from '../../../src/lib/errors.ts';
import { KeyedRateLimiter, TokenBucket, UpstreamLimiter } from '../../../src/nmi/limits.ts';

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate, and says how long to wait', () => {
    const bucket = new TokenBucket({ ratePerSec: 10, burst: 20 }, 0);
    for (let i = 0; i < 20; i++) expect(bucket.tryTake(0)).toBe(true);
    expect(bucket.tryTake(0)).toBe(false);
    expect(bucket.retryAfterMs(0)).toBe(100);
    expect(bucket.tryTake(99)).toBe(false);
    expect(bucket.tryTake(100)).toBe(true);
    expect(bucket.tryTake(100)).toBe(false);
    expect(bucket.isFull(100 + 2_000)).toBe(true);
  });

  it('does not refill when the clock goes backwards', () => {
    const bucket = new TokenBucket({ ratePerSec: 1, burst: 1 }, 1_000);
    expect(bucket.tryTake(1_000)).toBe(true);
    expect(bucket.tryTake(0)).toBe(false);
    expect(bucket.tryTake(1_999)).toBe(false);
    expect(bucket.tryTake(2_000)).toBe(true);
  });

  it('rejects nonsense rates', () => {
    expect(() => new TokenBucket({ ratePerSec: 0, burst: 1 }, 0)).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSec: 1, burst: 0 }, 0)).toThrow(RangeError);
  });
});

describe('KeyedRateLimiter', () => {
  it('limits each key independently and throws RetryAfterError with the wait', () => {
    const clock = new ManualClock();
    const limiter = new KeyedRateLimiter({ clock });
    for (let i = 0; i < 20; i++) limiter.take('pod-a');
    let error: unknown;
    try {
      limiter.take('pod-a');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RetryAfterError);
    expect(error).toMatchObject({ code: 'PI_RATE_LIMITED', retryAfterMs: 100 });
    for (let i = 0; i < 20; i++) limiter.take('pod-b');
    expect(() => {
      limiter.take('pod-b');
    }).toThrow(RetryAfterError);
  });

  it('recovers at the configured rate', async () => {
    const clock = new ManualClock();
    const limiter = new KeyedRateLimiter({ clock, ratePerSec: 10, burst: 1 });
    limiter.take('p');
    expect(() => {
      limiter.take('p');
    }).toThrow(RetryAfterError);
    await clock.advance(100);
    limiter.take('p');
  });

  it('keeps at most maxKeys buckets, forgetting the least recently used', () => {
    const clock = new ManualClock();
    const limiter = new KeyedRateLimiter({ clock, maxKeys: 2, burst: 1 });
    limiter.take('a');
    limiter.take('b');
    limiter.take('c');
    expect(limiter.size).toBe(2);
    // 'a' was forgotten, so it gets a fresh bucket; 'c' was not.
    limiter.take('a');
    expect(() => {
      limiter.take('a');
    }).toThrow(RetryAfterError);
    limiter.forget('a');
    expect(limiter.size).toBe(1);
  });
});

/** Steps the manual clock 1 ms at a time so every chain of promise reactions catches up. */
async function runFor(clock: ManualClock, ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    await clock.advance(1);
    await flushMicrotasks(50);
  }
}

describe('UpstreamLimiter', () => {
  it('never runs more than 5 at once nor starts more than 20 in any second, in FIFO order', async () => {
    const clock = new ManualClock(0);
    const limiter = new UpstreamLimiter({ clock });
    let running = 0;
    let maxRunning = 0;
    const starts: { index: number; at: number }[] = [];
    const results = Array.from({ length: 60 }, (_, index) =>
      limiter.run(async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        starts.push({ index, at: clock.now() });
        await clock.sleep(30);
        running--;
        return index;
      }),
    );
    await runFor(clock, 1_000);
    expect(starts.filter((start) => start.at < 1_000)).toHaveLength(20);
    await runFor(clock, 2_500);
    expect(await Promise.all(results)).toEqual(Array.from({ length: 60 }, (_, index) => index));
    expect(maxRunning).toBe(5);
    expect(starts.map((start) => start.index)).toEqual(Array.from({ length: 60 }, (_, index) => index));
    for (let i = 0; i + 20 < starts.length; i++) {
      expect(starts[i + 20]!.at - starts[i]!.at).toBeGreaterThanOrEqual(1_000);
    }
    expect(limiter.stats()).toMatchObject({ active: 0, queued: 0, started: 60 });
  });

  it('is limited by concurrency when calls are slow', async () => {
    const clock = new ManualClock(0);
    const limiter = new UpstreamLimiter({ clock });
    let running = 0;
    let maxRunning = 0;
    const results = Array.from({ length: 12 }, () =>
      limiter.run(async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await clock.sleep(500);
        running--;
      }),
    );
    await flushMicrotasks();
    expect(limiter.stats()).toMatchObject({ active: 5, queued: 7 });
    await runFor(clock, 1_600);
    await Promise.all(results);
    expect(maxRunning).toBe(5);
  });

  it('releases the slot when the call fails', async () => {
    const limiter = new UpstreamLimiter({ clock: new ManualClock(), maxConcurrent: 1 });
    await expect(limiter.run(() => Promise.reject(new Error('upstream down')))).rejects.toThrow('upstream down');
    expect(await limiter.run(() => Promise.resolve('ok'))).toBe('ok');
  });

  it('rejects at once when the queue is full', async () => {
    const limiter = new UpstreamLimiter({ clock: new ManualClock(), maxConcurrent: 1, maxQueue: 1 });
    const never = new Promise<never>(() => undefined);
    void limiter.run(() => never);
    void limiter.run(() => never);
    await expect(limiter.run(() => never)).rejects.toMatchObject({ code: 'PI_UPSTREAM_BUSY' });
    expect(limiter.stats()).toMatchObject({ active: 1, queued: 1, rejectedQueueFull: 1 });
  });

  it('times out a waiter that gets no slot in time', async () => {
    const clock = new ManualClock();
    const limiter = new UpstreamLimiter({ clock, maxConcurrent: 1, queueTimeoutMs: 100 });
    void limiter.run(() => new Promise<never>(() => undefined));
    const waiting = limiter.run(() => Promise.resolve('late'));
    const outcome = waiting.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await clock.advance(99);
    expect(limiter.stats().queued).toBe(1);
    await clock.advance(1);
    expect(await outcome).toBeInstanceOf(RetryAfterError);
    expect(limiter.stats()).toMatchObject({ queued: 0, timedOut: 1 });
  });

  it('drops an aborted waiter without running it and gives the slot to the next', async () => {
    const clock = new ManualClock();
    const limiter = new UpstreamLimiter({ clock, maxConcurrent: 1 });
    let release: () => void = () => undefined;
    const first = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    let abortedRan = false;
    const aborted = limiter.run(() => {
      abortedRan = true;
      return Promise.resolve();
    }, controller.signal);
    const third = limiter.run(() => Promise.resolve('third'));
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    release();
    await first;
    expect(await third).toBe('third');
    expect(abortedRan).toBe(false);
    expect(limiter.stats()).toMatchObject({ aborted: 1, started: 2 });
  });
});
