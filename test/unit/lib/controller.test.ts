import { describe, expect, it } from 'vitest';
import { flushMicrotasks, ManualClock } from '../../support/manual-clock.ts';
import { RETRY_AFTER_FLOOR_MS, runController, type ReconcileOutcome } from '../../../src/lib/controller.ts';
import { RetryAfterError, TerminalError } from '../../../src/lib/errors.ts';
import { WorkQueue } from '../../../src/lib/work-queue.ts';

function setup(reconcile: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>, workers = 1, retryAfterFloorMs?: number) {
  const clock = new ManualClock();
  const queue = new WorkQueue({ clock, backoff: { baseMs: 100, maxMs: 10_000, jitter: 0 } });
  const outcomes: ReconcileOutcome<string>[] = [];
  const controller = new AbortController();
  const running = runController(
    { name: 'test', queue, workers, now: () => clock.now(), retryAfterFloorMs, reconcile: (key) => reconcile(key), onOutcome: (outcome) => outcomes.push(outcome) },
    controller.signal,
  );
  return { clock, queue, outcomes, stop: async () => { controller.abort(); await running; } };
}

describe('runController', () => {
  it('reconciles keys and forgets them on success', async () => {
    const seen: string[] = [];
    const t = setup(async (key) => { seen.push(key); return undefined; });
    t.queue.add('a');
    t.queue.add('b');
    await flushMicrotasks();
    expect(seen).toEqual(['a', 'b']);
    expect(t.outcomes.map((outcome) => outcome.result)).toEqual(['success', 'success']);
    await t.stop();
  });

  it('retries ordinary errors with backoff until success', async () => {
    let attempts = 0;
    const t = setup(async () => { attempts++; if (attempts < 3) throw new Error('boom'); return undefined; });
    t.queue.add('a');
    await flushMicrotasks();
    expect(attempts).toBe(1);
    await t.clock.advance(99);
    expect(attempts).toBe(1);
    await t.clock.advance(1);
    expect(attempts).toBe(2);
    await t.clock.advance(200);
    expect(attempts).toBe(3);
    expect(t.outcomes.map((outcome) => [outcome.result, outcome.retryInMs])).toEqual([['retry', 100], ['retry', 200], ['success', undefined]]);
    expect(t.queue.retries('a')).toBe(0);
    await t.stop();
  });

  it('does not retry a TerminalError', async () => {
    let attempts = 0;
    const t = setup(async () => { attempts++; throw new Error('wrapped', { cause: new TerminalError('bad input') }); });
    t.queue.add('a');
    await t.clock.advance(60_000);
    expect(attempts).toBe(1);
    expect(t.outcomes[0]?.result).toBe('terminal');
    await t.stop();
  });

  it('never retries before a RetryAfterError allows, even when backoff is shorter', async () => {
    let attempts = 0;
    const t = setup(async () => { attempts++; if (attempts === 1) throw new RetryAfterError('throttled', 5000); return undefined; });
    t.queue.add('a');
    await flushMicrotasks();
    await t.clock.advance(4999);
    expect(attempts).toBe(1);
    await t.clock.advance(1);
    expect(attempts).toBe(2);
    expect(t.outcomes[0]?.retryInMs).toBe(5000);
    await t.stop();
  });

  it('an exact RetryAfterError (a server\'s Retry-After) is retried when it says, however often, without growing the backoff', async () => {
    let attempts = 0;
    const t = setup(async () => { attempts++; if (attempts <= 6) throw new RetryAfterError('throttled', 300, { exact: true }); throw new Error('other'); });
    t.queue.add('a');
    await flushMicrotasks();
    for (let round = 0; round < 6; round++) await t.clock.advance(300);
    expect(attempts).toBe(7);
    expect(t.outcomes.slice(0, 6).map((outcome) => outcome.retryInMs)).toEqual([300, 300, 300, 300, 300, 300]);
    // The next ordinary failure starts the backoff from its base.
    expect(t.outcomes[6]?.retryInMs).toBe(100);
    await t.stop();
  });

  it('waits at least the floor after an exact "Retry-After: 0": the default, or the caller’s', async () => {
    const zero = async (): Promise<undefined> => { throw new RetryAfterError('throttled', 0, { exact: true }); };
    const byDefault = setup(zero);
    byDefault.queue.add('a');
    await flushMicrotasks();
    expect(byDefault.outcomes[0]?.retryInMs).toBe(RETRY_AFTER_FLOOR_MS);
    await byDefault.stop();
    const own = setup(zero, 1, 1_000);
    own.queue.add('a');
    await flushMicrotasks();
    expect(own.outcomes[0]?.retryInMs).toBe(1_000);
    await own.stop();
  });

  it('a guessed RetryAfterError (not exact) still grows the backoff past its delay', async () => {
    const t = setup(async () => { throw new RetryAfterError('conflict', 300); });
    t.queue.add('a');
    await flushMicrotasks();
    await t.clock.advance(300 + 300 + 400 + 800);
    expect(t.outcomes.map((outcome) => outcome.retryInMs)).toEqual([300, 300, 400, 800, 1600]);
    await t.stop();
  });

  it('requeues after requeueAfterMs', async () => {
    let attempts = 0;
    const t = setup(async () => { attempts++; return attempts === 1 ? { requeueAfterMs: 1000 } : undefined; });
    t.queue.add('a');
    await flushMicrotasks();
    await t.clock.advance(1000);
    expect(attempts).toBe(2);
    await t.stop();
  });

  it('runs different keys concurrently but never one key twice at once', async () => {
    const active = new Set<string>();
    let overlap = false;
    let maxConcurrent = 0;
    const releases: (() => void)[] = [];
    const t = setup(async (key) => {
      if (active.has(key)) overlap = true;
      active.add(key);
      maxConcurrent = Math.max(maxConcurrent, active.size);
      await new Promise<void>((resolve) => releases.push(resolve));
      active.delete(key);
      return undefined;
    }, 3);
    t.queue.add('a');
    t.queue.add('b');
    await flushMicrotasks();
    t.queue.add('a');
    await flushMicrotasks();
    expect(maxConcurrent).toBe(2);
    for (const release of releases.splice(0)) release();
    await flushMicrotasks();
    for (const release of releases.splice(0)) release();
    await flushMicrotasks();
    expect(overlap).toBe(false);
    expect(t.outcomes.filter((outcome) => outcome.key === 'a')).toHaveLength(2);
    await t.stop();
  });
});
