/**
 * The reconcile loop, written once: workers take keys from a {@link WorkQueue}, call the reconciler,
 * and decide what happens next from the outcome — the reconciler never touches the queue.
 *
 * | outcome                         | queue                                               |
 * |---------------------------------|-----------------------------------------------------|
 * | success                         | forget (reset backoff)                              |
 * | success with `requeueAfterMs`   | forget, then addAfter                               |
 * | `TerminalError`                 | forget, report, no retry                            |
 * | `RetryAfterError`, exact        | addAfter(max(retryAfter, floor)), backoff unchanged |
 * | `RetryAfterError`               | addAfter(max(retryAfter, backoff))                  |
 * | any other error                 | addRateLimited (exponential + jitter)               |
 *
 * The delays are the caller's: the queue's backoff policy and `retryAfterFloorMs` (MIC's are in
 * one table, src/mic/retry-policy.ts).
 * @module
 */
import { findInChain, RetryAfterError, TerminalError } from './errors.ts';
import type { WorkQueue } from './work-queue.ts';

/** What a reconcile asks for after it succeeded. */
export interface ReconcileResult {
  /** Reconcile this key again after this many ms (periodic checks, grace periods). */
  readonly requeueAfterMs?: number;
}

/** Level-based reconciliation of one key: re-read current state, converge, return. */
export type Reconciler<K extends string> = (key: K, signal: AbortSignal) => Promise<ReconcileResult | undefined>;

/** What happened to one reconcile, for metrics and logs. */
export interface ReconcileOutcome<K extends string> {
  readonly key: K;
  readonly durationMs: number;
  readonly result: 'success' | 'requeue' | 'terminal' | 'retry';
  readonly error?: unknown;
  /** For retries: the delay before the next attempt. */
  readonly retryInMs?: number;
}

export interface ControllerOptions<K extends string> {
  readonly name: string;
  readonly queue: WorkQueue<K>;
  readonly reconcile: Reconciler<K>;
  /** Keys processed concurrently (never the same key twice). Default 1. */
  readonly workers?: number;
  readonly now?: () => number;
  /** Shortest wait after an exact RetryAfterError; default {@link RETRY_AFTER_FLOOR_MS}. */
  readonly retryAfterFloorMs?: number;
  readonly onOutcome?: (outcome: ReconcileOutcome<K>) => void;
}

/** Runs workers until `signal` aborts; resolves once every worker has finished its current key. */
export async function runController<K extends string>(options: ControllerOptions<K>, signal: AbortSignal): Promise<void> {
  const now = options.now ?? Date.now;
  const { queue } = options;
  const retryAfterFloorMs = options.retryAfterFloorMs ?? RETRY_AFTER_FLOOR_MS;
  const onAbort = (): void => {
    queue.shutDown();
  };
  signal.addEventListener('abort', onAbort, { once: true });

  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get(signal);
      if (key === undefined) return;
      const started = now();
      let outcome: ReconcileOutcome<K>;
      try {
        const result = await options.reconcile(key, signal);
        queue.forget(key);
        const requeueAfterMs = result?.requeueAfterMs;
        if (requeueAfterMs !== undefined) {
          queue.addAfter(key, requeueAfterMs);
          outcome = { key, durationMs: now() - started, result: 'requeue', retryInMs: requeueAfterMs };
        } else {
          outcome = { key, durationMs: now() - started, result: 'success' };
        }
      } catch (error) {
        outcome = handleFailure(queue, key, error, now() - started, retryAfterFloorMs);
      } finally {
        queue.done(key);
      }
      options.onOutcome?.(outcome);
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.max(1, options.workers ?? 1) }, worker));
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Shortest wait after an exact RetryAfterError, unless the caller's retry policy says otherwise. */
export const RETRY_AFTER_FLOOR_MS = 250;

function handleFailure<K extends string>(queue: WorkQueue<K>, key: K, error: unknown, durationMs: number, retryAfterFloorMs: number): ReconcileOutcome<K> {
  if (findInChain(error, TerminalError) !== undefined) {
    queue.forget(key);
    return { key, durationMs, result: 'terminal', error };
  }
  const retryAfter = findInChain(error, RetryAfterError);
  if (retryAfter?.exact === true) {
    // The server's own window (429 Retry-After): retry when it ends. Counted as failures, the throttled
    // attempts of a 15 s storm (Retry-After 3 s) grew the backoff to ~16 s and held targets that long
    // after the storm (MIC fault suite). The floor keeps a "Retry-After: 0" from spinning.
    const delay = Math.max(retryAfter.retryAfterMs, retryAfterFloorMs);
    queue.addAfter(key, delay);
    return { key, durationMs, result: 'retry', error, retryInMs: delay };
  }
  if (retryAfter !== undefined) {
    // A guessed delay (409 without Retry-After …): count the failure for backoff, never retry sooner.
    const backoff = queue.recordFailure(key);
    const delay = Math.max(backoff, retryAfter.retryAfterMs);
    queue.addAfter(key, delay);
    return { key, durationMs, result: 'retry', error, retryInMs: delay };
  }
  return { key, durationMs, result: 'retry', error, retryInMs: queue.addRateLimited(key) };
}
