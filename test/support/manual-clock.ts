/**
 * A {@link Clock} for tests that only moves when told to.
 * @module
 */
import { sleepWith, type CancelTimer, type Clock } from '../../src/lib/clock.ts';

interface PendingTimer {
  readonly due: number;
  readonly order: number;
  readonly callback: () => void;
}

/**
 * A clock that only moves when told to. `advance(ms)` fires due timers in time order (timers set by
 * callbacks during the advance fire too, if due), so tests of backoff and expiry run instantly.
 */
export class ManualClock implements Clock {
  private current: number;
  private readonly timers = new Set<PendingTimer>();
  private order = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, callback: () => void): CancelTimer {
    const timer: PendingTimer = { due: this.current + Math.max(0, ms), order: this.order++, callback };
    this.timers.add(timer);
    return () => {
      this.timers.delete(timer);
    };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }

  /** Number of timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, and lets promise callbacks run. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      const next = [...this.timers].filter((timer) => timer.due <= target).sort((a, b) => a.due - b.due || a.order - b.order)[0];
      if (next === undefined) break;
      this.timers.delete(next);
      this.current = Math.max(this.current, next.due);
      next.callback();
      await flushMicrotasks();
    }
    this.current = target;
    await flushMicrotasks();
  }
}

/** Lets queued promise reactions run (a few rounds, for chains of awaits). */
export async function flushMicrotasks(rounds = 10): Promise<void> {
  for (let round = 0; round < rounds; round++) await Promise.resolve();
}
