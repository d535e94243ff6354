import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Informer } from '../../../src/kube/informer.ts';
import { MicController } from '../../../src/mic/controller.ts';
import type { MicInformers } from '../../../src/mic/informers.ts';
import { REFRESH_COST_FACTOR, refreshDelayMs } from '../../../src/mic/refresh-schedule.ts';
import type { MicView } from '../../../src/mic/view.ts';
import { ManualClock } from '../../support/manual-clock.ts';

describe('refreshDelayMs', () => {
  it('refreshes at once before the first refresh', () => {
    expect(refreshDelayMs(undefined, 1_000, 100)).toBe(0);
  });

  it('pauses after a refresh for REFRESH_COST_FACTOR times what it cost', () => {
    expect(REFRESH_COST_FACTOR).toBe(4);
    expect(refreshDelayMs({ at: 1_000, costMs: 10 }, 1_000, 100)).toBe(40);
    expect(refreshDelayMs({ at: 1_000, costMs: 10 }, 1_030, 100)).toBe(10);
    expect(refreshDelayMs({ at: 1_000, costMs: 10 }, 1_040, 100)).toBe(0);
    // A cheap refresh (a small cluster): the next event waits at most a millisecond.
    expect(refreshDelayMs({ at: 1_000, costMs: 0.2 }, 1_000, 100)).toBe(1);
  });

  it('never pauses longer than the debounce, and not at all with a zero debounce', () => {
    expect(refreshDelayMs({ at: 1_000, costMs: 80 }, 1_000, 100)).toBe(100);
    expect(refreshDelayMs({ at: 1_000, costMs: 80 }, 1_000, 0)).toBe(0);
  });
});

/** Informers that only deliver what the test fires, and a view that records when it was refreshed. */
function fakeWorld(clock: ManualClock, refreshCostMs: number) {
  let stopwatchMs = 0;
  const listeners: (() => void)[] = [];
  const informer = {
    size: 0,
    onChange(listener: () => void) {
      listeners.push(listener);
      return () => undefined;
    },
    waitForSync: () => Promise.resolve(),
  } as unknown as Informer<never>;
  const informers = { pods: informer, nodes: informer, identities: informer, bindings: informer, assigned: informer, all: [informer] } as unknown as MicInformers;
  const refreshes: number[] = [];
  const reconciled: { key: string; at: number }[] = [];
  const view = {
    markDirty: () => undefined,
    refresh: () => {
      stopwatchMs += refreshCostMs;
      refreshes.push(clock.now());
      return ['vmss-a'];
    },
    targetKeys: () => ['vmss-a'],
  } as unknown as MicView;
  const controller = new MicController({
    informers,
    view,
    reconciler: {
      reconcile: (key: string) => {
        reconciled.push({ key, at: clock.now() });
        return Promise.resolve(undefined);
      },
    },
    targetState: { hasCachedIdentities: () => false, requestRefresh: () => undefined },
    readiness: { queueStale: () => undefined, run: () => Promise.resolve() },
    clock,
    logger: pino({ level: 'silent' }),
    debounceMs: 100,
    stopwatch: () => stopwatchMs,
    workers: 1,
    driftCheckIntervalMs: 0,
  });
  const fire = (): void => {
    for (const listener of listeners) listener();
  };
  return { controller, fire, refreshes, reconciled };
}

describe('MicController refresh scheduling', () => {
  let stop = new AbortController();
  beforeEach(() => {
    stop = new AbortController();
  });
  afterEach(() => {
    stop.abort();
  });

  it('a small cluster (cheap recompute): every event is handled on the next turn, even right after a refresh', async () => {
    const clock = new ManualClock(0);
    const world = fakeWorld(clock, 0.3);
    const running = world.controller.run(stop.signal);
    await clock.advance(0);
    expect(world.refreshes).toEqual([0]);

    await clock.advance(1_000);
    world.fire();
    await clock.advance(1);
    expect(world.refreshes).toEqual([0, 1_000]);
    expect(world.reconciled.at(-1)).toEqual({ key: 'vmss-a', at: 1_000 });
    // MIC's own AAI write echoes back 5 ms later and the next pod 5 ms after that: neither waits for a window.
    await clock.advance(4);
    world.fire();
    await clock.advance(1);
    await clock.advance(4);
    world.fire();
    await clock.advance(1);
    expect(world.refreshes).toEqual([0, 1_000, 1_005, 1_010]);
    stop.abort();
    await running;
  });

  it('a large cluster (a recompute costs 30 ms): a burst of events costs one recompute per 100 ms window', async () => {
    const clock = new ManualClock(0);
    const world = fakeWorld(clock, 30);
    const running = world.controller.run(stop.signal);
    await clock.advance(0);
    expect(world.refreshes).toEqual([0]);

    // Quiet for a second, then a lone pod: handled at once.
    await clock.advance(1_000);
    world.fire();
    await clock.advance(0);
    expect(world.refreshes).toEqual([0, 1_000]);

    // Ten events within the pause that recompute earned (min(4 × 30, 100) = 100 ms): one more recompute, at its end.
    for (let event = 0; event < 10; event++) {
      await clock.advance(5);
      world.fire();
    }
    await clock.advance(49);
    expect(world.refreshes).toEqual([0, 1_000]);
    await clock.advance(1);
    expect(world.refreshes).toEqual([0, 1_000, 1_100]);

    // Nothing more arrives: no further recompute.
    await clock.advance(1_000);
    expect(world.refreshes).toEqual([0, 1_000, 1_100]);
    stop.abort();
    await running;
  });
});
