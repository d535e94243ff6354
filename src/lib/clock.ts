/**
 * Injected time. Caches, queues, backoff and leader election take a {@link Clock} so that tests can
 * move time by hand instead of sleeping (test/support/manual-clock.ts).
 * @module
 */

/** Cancels a timer; calling it after the timer fired does nothing. */
export type CancelTimer = () => void;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once after `ms`. */
  setTimer(ms: number, callback: () => void): CancelTimer;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** `sleep` on top of `setTimer`, for any {@link Clock} (the test clock uses it too). */
export function sleepWith(clock: Pick<Clock, 'setTimer'>, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      cancel();
      reject(signal?.reason as Error);
    };
    const cancel = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The real clock. Timers are unref'd: a pending timer never keeps the process alive by itself. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, callback) {
    const handle = setTimeout(callback, Math.max(0, ms));
    handle.unref();
    return () => {
      clearTimeout(handle);
    };
  },
  sleep(ms, signal) {
    return sleepWith(systemClock, ms, signal);
  },
};
