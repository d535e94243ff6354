/**
 * MIC's retry and hold timing, in one place. Every delay MIC waits before trying again is set here
 * and read from here by the parts that apply it:
 *
 * | what                                              | how long                             | applied by |
 * |---------------------------------------------------|--------------------------------------|------------|
 * | a failed target (any other error)                 | 1 s doubling to 5 min, 20 % jitter   | work queue (controller.ts) |
 * | ARM's 429 window (Retry-After)                    | exactly the window, at least 250 ms; the backoff does not grow | throttle gate (azure/throttle-gate.ts) refuses calls inside it; lib/controller.ts requeues when it ends |
 * | 429 without a usable Retry-After                  | 10 s                                 | ARM client, as the window |
 * | 409 without Retry-After (another operation runs)  | 5 s, never less than the target's backoff | ARM client → lib/controller.ts |
 * | target being deleted (provisioningState Deleting) | 30 s, never less than the backoff    | ARM client → lib/controller.ts |
 * | ARM writes to a target after any "retry after"    | none before that time, however often it is reconciled | target-state.ts |
 * | an identity ARM refused on a target               | 2 s doubling to 1 min, 20 % jitter, per target and identity | target-state.ts |
 * | ARM's transient failures (5xx, network)           | `--update-user-msi-max-retry` times from `--update-user-msi-retry-interval`, at most 8 s apart | ARM client's retry policy |
 * | informer cache behind MIC's own AAI writes        | requeue after 100 ms; a write is waited for at most 10 s | write-tracker.ts, reconcile-target.ts |
 * | an identity removal's grace period                | requeue 50 ms after it ends          | reconcile-target.ts |
 * | ARM's answer about a target's identities          | trusted 30 s (drift checks and gone nodes re-read it) | target-state.ts |
 *
 * A wave's batching and the debounce are not retry timing: they are flags (config.ts).
 * @module
 */
import type { BackoffPolicy } from '../lib/backoff.ts';
import { backoffDelay } from '../lib/backoff.ts';
import { findInChain, RetryAfterError } from '../lib/errors.ts';

export interface MicRetryPolicy {
  /** Backoff of a target (or pod condition) whose reconcile failed; reset by a success. */
  readonly reconcileBackoff: BackoffPolicy;
  /** Shortest wait after an exact Retry-After: keeps a "Retry-After: 0" from spinning. */
  readonly retryAfterFloorMs: number;
  /** How long an identity ARM refused on a target is left out of that target's writes. */
  readonly refusedIdentityBackoff: BackoffPolicy;
  /** The ARM client's own delays, for answers that carry none. */
  readonly arm: {
    /** Throttled without a usable Retry-After header. */
    readonly defaultThrottleMs: number;
    /** 409 without Retry-After. */
    readonly conflictRetryMs: number;
    /** The target is being deleted. */
    readonly deletingRetryMs: number;
    /** Upper bound between the client's retries of transient failures. */
    readonly transientRetryMaxDelayMs: number;
  };
  /** Requeue delay of a target whose informer cache misses one of MIC's own recent AAI writes. */
  readonly cacheLagRequeueMs: number;
  /** How long an own AAI write is waited for in the cache before it is taken as seen. */
  readonly ownWriteWaitMs: number;
  /** Added to the end of a grace period when requeueing for it, so the deadline has surely passed. */
  readonly graceRequeueSlackMs: number;
  /** How long ARM's answer about a target's identities is trusted. */
  readonly identityCacheTtlMs: number;
}

export const MIC_RETRY_POLICY: MicRetryPolicy = {
  reconcileBackoff: { baseMs: 1_000, maxMs: 5 * 60_000, jitter: 0.2 },
  retryAfterFloorMs: 250,
  // A refused identity that was just created in Azure is picked up within a minute.
  refusedIdentityBackoff: { baseMs: 2_000, maxMs: 60_000, jitter: 0.2 },
  arm: { defaultThrottleMs: 10_000, conflictRetryMs: 5_000, deletingRetryMs: 30_000, transientRetryMaxDelayMs: 8_000 },
  cacheLagRequeueMs: 100,
  ownWriteWaitMs: 10_000,
  graceRequeueSlackMs: 50,
  identityCacheTtlMs: 30_000,
};

/** How long an identity refused `failures` times in a row on a target is left out of its writes. */
export function refusedIdentityHoldMs(failures: number, random?: () => number): number {
  return backoffDelay(MIC_RETRY_POLICY.refusedIdentityBackoff, failures, random);
}

/**
 * How long no ARM write may go to a target after its last write failed with `error`: the error's
 * Retry-After (throttled, conflict, being deleted); undefined when it asked for no wait.
 */
export function armWriteHoldMs(error: unknown): number | undefined {
  return findInChain(error, RetryAfterError)?.retryAfterMs;
}

/** The requeue delay that reconciles a target just after the earliest pending grace period ends. */
export function graceRequeueMs(deadline: number, now: number): number {
  return Math.max(0, deadline - now) + MIC_RETRY_POLICY.graceRequeueSlackMs;
}
