import { describe, expect, it } from 'vitest';
import { ManualClock, flushMicrotasks } from '../../support/manual-clock.ts';
import { KeyedWaiter } from '../../../src/lib/keyed-waiter.ts';

describe('KeyedWaiter', () => {
  it('wakes a waiter on a change of its pod, not of another pod', async () => {
    const clock = new ManualClock(0);
    const waiter = new KeyedWaiter(clock);
    let woke = false;
    void waiter.wait('ns/a', 5_000, undefined).then(() => { woke = true; });
    waiter.notify('ns/b');
    await flushMicrotasks();
    expect(woke).toBe(false);
    waiter.notify('ns/a');
    await flushMicrotasks();
    expect(woke).toBe(true);
    expect(waiter.waiting).toBe(0);
  });

  it('gives up after the interval or when the request goes away', async () => {
    const clock = new ManualClock(0);
    const waiter = new KeyedWaiter(clock);
    let timedOut = false;
    void waiter.wait('ns/a', 5_000, undefined).then(() => { timedOut = true; });
    await clock.advance(4_999);
    await flushMicrotasks();
    expect(timedOut).toBe(false);
    await clock.advance(1);
    await flushMicrotasks();
    expect(timedOut).toBe(true);
    const abort = new AbortController();
    let aborted = false;
    void waiter.wait('ns/a', 5_000, abort.signal).then(() => { aborted = true; });
    abort.abort();
    await flushMicrotasks();
    expect(aborted).toBe(true);
    expect(waiter.waiting).toBe(0);
  });
});
