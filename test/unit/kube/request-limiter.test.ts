import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../support/manual-clock.ts';
import { fullBucket, reserve, RequestLimiter, type ClientRate } from '../../../src/kube/request-limiter.ts';

/** When each of `count` callers, all arriving at `arrivalsMs[i]`, may send (pure arithmetic). */
function sendTimes(rate: ClientRate, arrivalsMs: readonly number[]): number[] {
  let state = fullBucket(rate, arrivalsMs[0] ?? 0);
  return arrivalsMs.map((at) => {
    const reserved = reserve(state, rate, at);
    state = reserved.state;
    return at + reserved.waitMs;
  });
}

/** The most sends in any window of `windowMs` (inclusive of both ends). */
function mostInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let start = 0; start < sorted.length; start++) {
    let end = start;
    while (end + 1 < sorted.length && (sorted[end + 1] ?? Infinity) - (sorted[start] ?? 0) <= windowMs) end++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe('reserve (client-go token bucket arithmetic)', () => {
  it('lets a full burst go at once, then one request per 1/QPS, in arrival order', () => {
    // client-go's default pair for upstream MIC: QPS 5, burst int(5).
    expect(sendTimes({ qps: 5, burst: 5 }, Array.from({ length: 8 }, () => 0))).toEqual([0, 0, 0, 0, 0, 200, 400, 600]);
  });

  it('refills at QPS up to the burst, never beyond', () => {
    const rate = { qps: 2, burst: 3 };
    let state = fullBucket(rate, 0);
    for (let i = 0; i < 3; i++) state = reserve(state, rate, 0).state;
    expect(state.tokens).toBe(0);
    // 10 s of quiet refill 20 tokens' worth, capped at 3: three go at once, the fourth waits 500 ms.
    const times = sendTimes(rate, [10_000, 10_000, 10_000, 10_000]);
    expect(times).toEqual([10_000, 10_000, 10_000, 10_500]);
  });

  it('a fractional QPS with burst 1 (upstream: --clientQps=0.5, our burst floor of 1) spaces requests 2 s apart', () => {
    expect(sendTimes({ qps: 0.5, burst: 1 }, [0, 0, 0])).toEqual([0, 2_000, 4_000]);
  });

  it('never exceeds burst + QPS × window, whatever the arrivals', () => {
    const rate = { qps: 7.5, burst: 7 };
    // Deterministic pseudo-random arrivals: bursts and gaps over ~20 s.
    let seed = 42;
    const arrivals: number[] = [];
    let now = 0;
    for (let i = 0; i < 400; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      now += seed % 7 === 0 ? seed % 900 : 0;
      arrivals.push(now);
    }
    const times = sendTimes(rate, arrivals);
    for (const windowMs of [0, 100, 1_000, 5_000]) {
      expect(mostInWindow(times, windowMs)).toBeLessThanOrEqual(rate.burst + Math.floor((rate.qps * windowMs) / 1000));
    }
    // Nobody waits needlessly: a caller is late only while tokens are owed.
    times.forEach((time, i) => {
      expect(time).toBeGreaterThanOrEqual(arrivals[i] ?? 0);
    });
  });

  it('a clock stepping backwards adds no tokens', () => {
    const rate = { qps: 1, burst: 1 };
    const first = reserve(fullBucket(rate, 10_000), rate, 10_000);
    const second = reserve(first.state, rate, 5_000);
    expect(second.waitMs).toBe(1_000);
  });
});

describe('RequestLimiter', () => {
  it('holds callers over the rate until their turn on the clock', async () => {
    const clock = new ManualClock(0);
    const limiter = new RequestLimiter({ qps: 4, burst: 2 }, clock);
    const sent: number[] = [];
    const waits = Array.from({ length: 5 }, (_, i) => limiter.wait().then(() => sent.push(i)));
    await clock.advance(0);
    expect(sent).toEqual([0, 1]);
    await clock.advance(249);
    expect(sent).toEqual([0, 1]);
    await clock.advance(1);
    expect(sent).toEqual([0, 1, 2]);
    await clock.advance(500);
    await Promise.all(waits);
    expect(sent).toEqual([0, 1, 2, 3, 4]);
  });

  it('an aborted wait rejects with the reason and keeps its token (never faster than the rate)', async () => {
    const clock = new ManualClock(0);
    const limiter = new RequestLimiter({ qps: 1, burst: 1 }, clock);
    await limiter.wait();
    const stop = new AbortController();
    const aborted = limiter.wait(stop.signal);
    stop.abort(new Error('shutting down'));
    await expect(aborted).rejects.toThrow('shutting down');
    let sent = false;
    const next = limiter.wait().then(() => { sent = true; });
    await clock.advance(1_999);
    expect(sent).toBe(false);
    await clock.advance(1);
    await next;
    expect(sent).toBe(true);
    await expect(limiter.wait(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('refuses a rate client-go could not apply', () => {
    expect(() => new RequestLimiter({ qps: 0, burst: 1 })).toThrow(/qps/);
    expect(() => new RequestLimiter({ qps: Number.NaN, burst: 1 })).toThrow(/qps/);
    expect(() => new RequestLimiter({ qps: 5, burst: 0 })).toThrow(/burst/);
    expect(() => new RequestLimiter({ qps: 5, burst: 2.5 })).toThrow(/burst/);
  });
});
