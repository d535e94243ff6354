import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../support/manual-clock.ts';
import { WorkQueue } from '../../../src/lib/work-queue.ts';

const noJitter = { baseMs: 100, maxMs: 1000, jitter: 0 };

describe('WorkQueue', () => {
  it('deduplicates keys waiting in the queue and keeps FIFO order', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.length).toBe(2);
    expect(await queue.get()).toBe('a');
    expect(await queue.get()).toBe('b');
  });

  it('never hands out a key being processed; an add meanwhile brings it back after done', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    const first = await queue.get();
    queue.add('a');
    expect(queue.length).toBe(0);
    queue.done(first!);
    expect(queue.length).toBe(1);
    expect(await queue.get()).toBe('a');
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    queue.add('x');
    expect(await waiting).toBe('x');
    expect(queue.inFlight).toBe(1);
  });

  it('addAfter delays, and the earliest pending due time wins', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter('a', 500);
    queue.addAfter('a', 200);
    queue.addAfter('a', 900);
    await clock.advance(199);
    expect(queue.length).toBe(0);
    await clock.advance(1);
    expect(queue.length).toBe(1);
    await clock.advance(1000);
    expect(queue.length).toBe(1);
  });

  it('add cancels a pending delayed add of the same key', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter('a', 500);
    queue.add('a');
    expect(queue.delayedCount).toBe(0);
    expect(await queue.get()).toBe('a');
    queue.done('a');
    await clock.advance(1000);
    expect(queue.length).toBe(0);
  });

  it('backs off exponentially per key and forget resets it', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, backoff: noJitter });
    expect(queue.addRateLimited('a')).toBe(100);
    await clock.advance(100);
    expect(await queue.get()).toBe('a');
    queue.done('a');
    expect(queue.addRateLimited('a')).toBe(200);
    expect(queue.addRateLimited('b')).toBe(100);
    expect(queue.retries('a')).toBe(2);
    queue.forget('a');
    expect(queue.retries('a')).toBe(0);
    expect(queue.addRateLimited('a')).toBe(100);
  });

  it('shutDown releases waiting workers and drops delayed keys', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const waiting = queue.get();
    queue.addAfter('later', 100);
    queue.shutDown();
    expect(await waiting).toBeUndefined();
    expect(clock.pendingTimers).toBe(0);
    queue.add('ignored');
    expect(await queue.get()).toBeUndefined();
  });

  it('get resolves undefined when its signal aborts', async () => {
    const queue = new WorkQueue();
    const controller = new AbortController();
    const waiting = queue.get(controller.signal);
    controller.abort();
    expect(await waiting).toBeUndefined();
    queue.add('a');
    expect(await queue.get()).toBe('a');
  });
});
