/**
 * What MIC remembers about each target (VM or scale set) between its reconciles, in one place:
 * - ARM's last answer about the target's identities, trusted for a while (`identityCacheTtlMs`)
 *   unless a refresh was asked for (drift check, a node gone);
 * - the ARM hold: after a write answered "retry after" (throttled, conflict, being deleted) no ARM
 *   write goes to the target before that time, even when it is reconciled earlier — MIC's own AAI
 *   writes and drift checks queue it at once, bypassing the work queue's Retry-After delay;
 * - the refused holds: identities ARM refused on the target (it does not exist, MIC may not assign
 *   it …) are left out of its writes for a growing while. Without this every pod event retried a
 *   refused identity at once — a failed ARM write per event (5 per pod of an identity that does not
 *   exist in the soak suite) against the subscription's write quota. The valid identities of a wave
 *   are never held back by it.
 * The delays come from retry-policy.ts. No I/O; every method takes the time it acts at.
 * @module
 */
import type { TargetIdentityState } from '../azure/compute-identity-client.ts';
import { armWriteHoldMs, refusedIdentityHoldMs } from './retry-policy.ts';

/** An identity ARM refused on a target, not written again before `until`. */
export interface RefusedHold {
  readonly until: number;
  /** Refusals in a row (the hold doubles with each). */
  readonly failures: number;
  /** ARM's reason, repeated in the Events while the hold lasts. */
  readonly reason: string;
}

export interface TargetStateOptions {
  /** How long ARM's answer about a target's identities is trusted. */
  readonly identityCacheTtlMs: number;
}

export class TargetState {
  private readonly identityCacheTtlMs: number;
  private readonly identities = new Map<string, { readonly state: TargetIdentityState; readonly at: number }>();
  private readonly refreshRequested = new Set<string>();
  /** Target → time before which no ARM write goes to it. */
  private readonly armHolds = new Map<string, number>();
  /** Target → refused identity → its hold. */
  private readonly refusedHolds = new Map<string, Map<string, RefusedHold>>();

  constructor(options: TargetStateOptions) {
    this.identityCacheTtlMs = options.identityCacheTtlMs;
  }

  /** Drops everything about `key` (nothing is desired or assigned there any more). */
  forget(key: string): void {
    this.identities.delete(key);
    this.armHolds.delete(key);
    this.refusedHolds.delete(key);
  }

  /** Makes the next reconcile of `key` read the target from ARM (drift repair, a node gone). */
  requestRefresh(key: string): void {
    this.refreshRequested.add(key);
  }

  /** Whether ARM's answer about `key` is remembered (drift checks only re-read such targets). */
  hasCachedIdentities(key: string): boolean {
    return this.identities.has(key);
  }

  /**
   * ARM's last answer about `key` when it may be used at `now`: younger than the TTL and no refresh
   * asked for. Otherwise undefined, and a pending refresh request is taken: the caller reads ARM now.
   */
  identitiesToReuse(key: string, now: number): TargetIdentityState | undefined {
    const cached = this.identities.get(key);
    if (cached !== undefined && now - cached.at < this.identityCacheTtlMs && !this.refreshRequested.has(key)) return cached.state;
    this.refreshRequested.delete(key);
    return undefined;
  }

  /** Remembers what ARM answered about `key` (a read, or the result of a write). */
  rememberIdentities(key: string, state: TargetIdentityState, now: number): void {
    this.identities.set(key, { state, at: now });
  }

  /** Forgets ARM's answer about `key`: after a failed write it may be stale. */
  forgetIdentities(key: string): void {
    this.identities.delete(key);
  }

  /** Milliseconds before an ARM write may go to `key` again; undefined when it may at `now`. */
  armHoldRemainingMs(key: string, now: number): number | undefined {
    const until = this.armHolds.get(key);
    return until !== undefined && until > now ? until - now : undefined;
  }

  /** Starts the ARM hold of `key` when its wave ended with a "retry after" error; ends it otherwise. */
  armWaveEnded(key: string, error: unknown, now: number): void {
    const holdMs = armWriteHoldMs(error);
    if (holdMs === undefined) this.armHolds.delete(key);
    else this.armHolds.set(key, now + holdMs);
  }

  /** The refusals of `key` still holding at `now` (expired ones are kept for their failure count). */
  activeRefusals(key: string, now: number): Map<string, RefusedHold> {
    return new Map([...(this.refusedHolds.get(key) ?? [])].filter(([, hold]) => hold.until > now));
  }

  /**
   * After a wave on `key`: each new refusal (`refused`, identity → ARM's reason, minus those already
   * held) starts or grows a hold; an identity that `landed` is forgiven.
   */
  recordRefusals(key: string, refused: ReadonlyMap<string, string>, alreadyHeld: ReadonlyMap<string, RefusedHold>, landed: ReadonlySet<string>, now: number): void {
    const holds = this.refusedHolds.get(key) ?? new Map<string, RefusedHold>();
    for (const [id, reason] of refused) {
      if (alreadyHeld.has(id)) continue;
      const failures = (holds.get(id)?.failures ?? 0) + 1;
      holds.set(id, { until: now + refusedIdentityHoldMs(failures), failures, reason });
    }
    for (const id of landed) holds.delete(id);
    if (holds.size === 0) this.refusedHolds.delete(key);
    else this.refusedHolds.set(key, holds);
  }
}
