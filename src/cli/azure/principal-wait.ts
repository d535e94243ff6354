/**
 * Entra ID replicates a new service principal (a new managed identity's, a VM's new system-assigned
 * one) to ARM's authorization service with a delay: until then a role assignment for it fails with
 * 400 `PrincipalNotFound`. {@link retryWhilePrincipalMissing} repeats such a call with growing pauses
 * until it succeeds, another error occurs, or the time is up, reporting each wait.
 * @module
 */
import { armCodeOf } from './arm-error.ts';

export interface PrincipalWaitOptions {
  /** Give up after this long (ms) of waiting. */
  readonly timeoutMs: number;
  /** Pauses between attempts (ms); the last repeats. Default 2 s, 4 s, 8 s, then 10 s. */
  readonly delaysMs?: readonly number[];
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly signal?: AbortSignal;
  /** Called before each pause: the attempt that failed (1-based), ms waited so far, the coming pause. */
  readonly onWait?: (attempt: number, waitedMs: number, nextDelayMs: number) => void;
}

export const DEFAULT_PRINCIPAL_DELAYS_MS: readonly number[] = [2_000, 4_000, 8_000, 10_000];

/** The principal has not appeared in time. */
export class PrincipalWaitTimeoutError extends Error {
  readonly attempts: number;

  constructor(attempts: number, waitedMs: number, options?: ErrorOptions) {
    super(`the principal was still not found after ${attempts} attempts over ${Math.round(waitedMs / 1000)}s (Entra ID replication delay); run the command again later, it resumes where it stopped`, options);
    this.name = 'PrincipalWaitTimeoutError';
    this.attempts = attempts;
  }
}

export function isPrincipalNotFound(error: unknown): boolean {
  return armCodeOf(error)?.toLowerCase() === 'principalnotfound';
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `call` until it does not fail with PrincipalNotFound; other errors are thrown at once. */
export async function retryWhilePrincipalMissing<T>(call: () => Promise<T>, options: PrincipalWaitOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const delays = options.delaysMs ?? DEFAULT_PRINCIPAL_DELAYS_MS;
  const startedAt = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isPrincipalNotFound(error)) throw error;
      const waited = now() - startedAt;
      const delay = delays[Math.min(attempt - 1, delays.length - 1)] ?? 10_000;
      if (waited + delay > options.timeoutMs) throw new PrincipalWaitTimeoutError(attempt, waited, { cause: error });
      options.onWait?.(attempt, waited, delay);
      await sleep(delay, options.signal);
    }
  }
}
