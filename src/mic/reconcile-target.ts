/**
 * Reconciles one VM or scale set: reads the target's identities from ARM (cached briefly), plans
 * (plan.ts), then carries the plan out in an order that never grants more than intended:
 * 1. let go of AAIs someone else is deleting; 2. mark AAIs no longer desired `Unassigned` (NMIs stop
 * serving them); 3. write new and changed AAIs; 4. one ARM wave adding and removing identities (split
 * into ≤150 changes per request); 5. mark what landed `Assigned`; 6. delete AAIs whose removal is done.
 *
 * One identity ARM refuses (deleted, or no permission) does not block the others: it is dropped from
 * the wave, which is retried once without it; its AAIs stay `Created` with a Warning Event and the
 * target is retried with backoff. Throttling and conflicts surface as RetryAfterErrors for the loop,
 * and no ARM write goes to that target before their time has passed, however often it is reconciled.
 * @module
 */
import type { Logger } from 'pino';
import { AssignedIdentityState, EventReason, type AzureAssignedIdentity } from '../api/index.ts';
import type { ComputeIdentityClient, TargetIdentityState } from '../azure/compute-identity-client.ts';
import { IdentityOperationError, NotFoundError } from '../azure/errors.ts';
import { buildIdentityPatches } from '../azure/identity-patch.ts';
import { targetResourceId, type ComputeTargetRef } from '../azure/provider-id.ts';
import { backoffDelay, type BackoffPolicy } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';
import type { ReconcileResult } from '../lib/controller.ts';
import { describeError, findInChain, RetryAfterError } from '../lib/errors.ts';
import type { EventRecorder, EventTarget } from '../kube/events.ts';
import type { AssignedIdentityWriter } from './assigned-writer.ts';
import { objectKey, type DesiredAssignment } from './model.ts';
import { assignedResourceIdKey, planTarget, type TargetPlan } from './plan.ts';
import type { TargetView } from './view.ts';
import type { WriteTracker } from './write-tracker.ts';

export interface TargetReconcilerDeps {
  readonly view: { targetView(key: string): TargetView };
  readonly writer: AssignedIdentityWriter;
  readonly arm: ComputeIdentityClient;
  readonly events: Pick<EventRecorder, 'record'>;
  readonly writes: WriteTracker;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Lower-cased client IDs and resource IDs never removed from a target. */
  readonly immutable: () => ReadonlySet<string>;
  readonly gracePeriodMs: number;
  /** Concurrent Kubernetes writes per target (upstream's --createDeleteBatch). */
  readonly writeConcurrency: number;
  /** How long ARM's answer about a target's identities is trusted. */
  readonly identityCacheTtlMs: number;
  /** Called after each target reconcile with what was done, for metrics. */
  readonly observe?: (outcome: TargetOutcome) => void;
}

/** What a reconcile did, for metrics and logs. */
export interface TargetOutcome {
  readonly key: string;
  readonly created: number;
  readonly assigned: number;
  readonly unassigned: number;
  readonly deleted: number;
  readonly armWrites: number;
  readonly identitiesAdded: number;
  readonly identitiesRemoved: number;
  /** AAIs (`namespace/name`) that became Assigned in this reconcile. */
  readonly assignedKeys: readonly string[];
}

/** Runs `work` over `items` with at most `limit` in flight; collects failures instead of stopping. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<unknown[]> {
  const failures: unknown[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, lane));
  return failures;
}

function bindingTarget(desired: DesiredAssignment): EventTarget {
  const { metadata } = desired.binding;
  return {
    apiVersion: desired.binding.apiVersion,
    kind: 'AzureIdentityBinding',
    namespace: metadata.namespace ?? '',
    name: metadata.name ?? '',
    ...(metadata.uid === undefined ? {} : { uid: metadata.uid }),
  };
}

function assignedBindingTarget(assigned: AzureAssignedIdentity): EventTarget | undefined {
  const binding = assigned.spec.azureBindingRef;
  if (binding === undefined) return undefined;
  return { apiVersion: binding.apiVersion, kind: 'AzureIdentityBinding', namespace: binding.metadata.namespace ?? '', name: binding.metadata.name ?? '' };
}

const keyOf = (assigned: AzureAssignedIdentity): { namespace: string; name: string } => ({
  namespace: assigned.metadata.namespace ?? '',
  name: assigned.metadata.name ?? '',
});

/** An identity ARM refused on a target, not written again before `until`. */
interface RefusedHold {
  readonly until: number;
  readonly failures: number;
  /** ARM's reason, repeated in the Events while the hold lasts. */
  readonly reason: string;
}

/** 2 s, 4 s, … up to a minute: a refused identity that was just created in Azure is picked up within a minute. */
export const REFUSED_IDENTITY_BACKOFF: BackoffPolicy = { baseMs: 2_000, maxMs: 60_000, jitter: 0.2 };

export class TargetReconciler {
  private readonly deps: TargetReconcilerDeps;
  private readonly identityCache = new Map<string, { state: TargetIdentityState; at: number }>();
  private readonly refreshRequested = new Set<string>();
  /**
   * Targets whose last ARM write was answered "retry after" (throttled, conflict, being deleted):
   * no ARM write to them before `until`, even when the target is reconciled again earlier — our own
   * AAI writes and drift checks queue it at once, bypassing the work queue's Retry-After delay. Such
   * a reconcile does its Kubernetes work and asks to be requeued when the hold ends (not a failure:
   * it must not grow the target's backoff).
   */
  private readonly armHolds = new Map<string, number>();
  /**
   * Identities ARM refused on a target (it does not exist, MIC may not assign it …), per target: not
   * part of a write again before `until` (growing backoff, {@link REFUSED_IDENTITY_BACKOFF}). Without
   * this every pod event on the target retried the refused identity at once — a failed ARM write per
   * event (5 per pod of an identity that does not exist in the soak suite) against the subscription's
   * write quota. The valid identities of a wave are never held back by it.
   */
  private readonly refusedHolds = new Map<string, Map<string, RefusedHold>>();

  constructor(deps: TargetReconcilerDeps) {
    this.deps = deps;
  }

  /** Makes the next reconcile of `key` read the target from ARM (drift repair). */
  requestRefresh(key: string): void {
    this.refreshRequested.add(key);
  }

  /** Whether the target held assignments at its last reconcile (drift repair only checks those). */
  hasCachedState(key: string): boolean {
    return this.identityCache.has(key);
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult | undefined> {
    const { deps } = this;
    const now = deps.clock.now();
    const view = deps.view.targetView(key);
    if (deps.writes.lagging(key, view.currentOnTarget, now)) return { requeueAfterMs: 100 };
    if (view.desiredOnTarget.length === 0 && view.currentOnTarget.length === 0) {
      this.identityCache.delete(key);
      this.armHolds.delete(key);
      this.refusedHolds.delete(key);
      return undefined;
    }

    const needsAzure =
      view.desiredOnTarget.some((desired) => desired.resourceIdKey !== undefined) || view.currentOnTarget.some((assigned) => assignedResourceIdKey(assigned) !== undefined);
    let azure: TargetIdentityState | undefined;
    let targetGone: NotFoundError | undefined;
    if (needsAzure && view.target !== undefined) {
      try {
        // A node is gone: its VM may be gone with it, so do not trust a cached answer.
        if (view.nodeMissing) this.refreshRequested.add(key);
        azure = await this.readTarget(key, view.target, signal);
      } catch (error) {
        // The VM (or scale set) itself is gone, e.g. deleted with its node: nothing is on it any more,
        // so its AAIs are cleaned up without ARM calls; new assignments there cannot work.
        if (!(error instanceof NotFoundError)) throw error;
        targetGone = error;
      }
    }
    const onTarget = new Set((azure?.identity.userAssignedIdentities ?? []).map((id) => id.toLowerCase()));
    const plan = planTarget({
      desiredOnTarget: view.desiredOnTarget,
      desiredKeys: view.desiredKeys,
      currentOnTarget: view.currentOnTarget,
      onTarget,
      immutable: deps.immutable(),
      gracePeriodMs: deps.gracePeriodMs,
      now,
    });
    const log = deps.logger.child({ target: view.target === undefined ? key : targetResourceId(view.target) });
    const failures: unknown[] = [];

    // 1–2: revoke before granting anything.
    failures.push(...(await forEachLimited(plan.releaseFirst, deps.writeConcurrency, (assigned) => this.deleteAssigned(key, assigned))));
    failures.push(
      ...(await forEachLimited(plan.toUnassign, deps.writeConcurrency, async (assigned) => {
        const version = await this.setState(assigned, AssignedIdentityState.Unassigned, { unassignedAt: new Date(now).toISOString() });
        deps.writes.written(key, keyOf(assigned).namespace, keyOf(assigned).name, version, now);
      })),
    );

    // 3: new and changed AAIs. Those needing no Azure change are written Assigned directly.
    const needsArm = (desired: DesiredAssignment): boolean => desired.resourceIdKey !== undefined && (view.target === undefined || !onTarget.has(desired.resourceIdKey));
    const pendingWrites = plan.writes.filter((write) => needsArm(write.desired));
    const assignedKeys: string[] = [];
    failures.push(
      ...(await forEachLimited(plan.writes, deps.writeConcurrency, async (write) => {
        const state = needsArm(write.desired) ? AssignedIdentityState.Created : AssignedIdentityState.Assigned;
        const version = await deps.writer.write(write.desired, write.preexisting, write.current, state, view.target === undefined ? undefined : targetResourceId(view.target));
        deps.writes.written(key, write.desired.namespace, write.desired.name, version, now);
        if (state === AssignedIdentityState.Assigned) {
          assignedKeys.push(`${write.desired.namespace}/${write.desired.name}`);
          await deps.events.record(bindingTarget(write.desired), 'Normal', EventReason.BindingApplied, appliedMessage(write.desired));
        }
      })),
    );

    // 4: one ARM wave.
    let armWrites = 0;
    let armError: unknown;
    /** Identities ARM refused in this wave → ARM's reason, for the Events. */
    const refused = new Map<string, string>();
    const heldRefusals = this.activeRefusals(key, now);
    // The same reason as the refusal itself: the Warning Event then repeats (its count goes up) instead
    // of becoming a new Event every time.
    for (const [id, hold] of heldRefusals) refused.set(id, hold.reason);
    if (heldRefusals.size > 0) log.debug({ held: [...heldRefusals].map(([id, hold]) => ({ id, until: new Date(hold.until).toISOString(), failures: hold.failures })) }, 'identities ARM refused are not written again before their hold ends');
    const holdUntil = this.armHolds.get(key);
    let heldMs: number | undefined;
    if (view.target !== undefined && azure !== undefined && (plan.identitiesToAdd.length > 0 || plan.identitiesToRemove.length > 0)) {
      if (holdUntil !== undefined && holdUntil > now) {
        heldMs = holdUntil - now;
        log.debug({ heldMs }, 'ARM writes to this target held back until the Retry-After of the last one has passed');
      } else {
        const result = await this.applyWave(key, view.target, azure, plan, refused, signal);
        azure = result.state;
        armWrites = result.writes;
        armError = result.error;
        this.recordRefusals(key, refused, heldRefusals, new Set(result.state.identity.userAssignedIdentities.map((id) => id.toLowerCase())));
        const retryAfter = findInChain(result.error, RetryAfterError);
        if (retryAfter === undefined) this.armHolds.delete(key);
        else this.armHolds.set(key, deps.clock.now() + retryAfter.retryAfterMs);
      }
    } else if (targetGone !== undefined && pendingWrites.length > 0) {
      armError = targetGone;
    } else if (view.target === undefined && pendingWrites.length > 0) {
      armError = new Error(`nodes ${view.nodeNames.join(', ')} have no Azure providerID: cannot assign user-assigned identities there`);
    }
    const landed = new Set((azure?.identity.userAssignedIdentities ?? []).map((id) => id.toLowerCase()));

    // 5: mark what landed Assigned; say what did not.
    const toAssign: { assigned?: AzureAssignedIdentity; desired?: DesiredAssignment; id: string | undefined }[] = [
      ...pendingWrites.map((write) => ({ desired: write.desired, id: write.desired.resourceIdKey })),
      ...plan.toMarkAssigned.map((assigned) => ({ assigned, id: assignedResourceIdKey(assigned) })),
    ];
    let assignedCount = 0;
    // Indexed once: a scale set can carry thousands of assignments, and a linear search per AAI is quadratic.
    const desiredByKey = new Map(view.desiredOnTarget.map((candidate) => [objectKey(candidate.namespace, candidate.name), candidate]));
    failures.push(
      ...(await forEachLimited(toAssign, deps.writeConcurrency, async (entry) => {
        const desired = entry.desired ?? (entry.assigned === undefined ? undefined : desiredByKey.get(objectKey(entry.assigned.metadata.namespace ?? '', entry.assigned.metadata.name ?? '')));
        if (desired === undefined) return;
        if (entry.id !== undefined && !landed.has(entry.id)) {
          // Held back: the failed write that started the hold already said why.
          if (heldMs !== undefined) return;
          const refusal = refused.get(entry.id);
          const why = refusal !== undefined ? `ARM refused identity ${entry.id}: ${refusal}` : describeError(armError ?? 'the identity is not on the VM/VMSS');
          await deps.events.record(bindingTarget(desired), 'Warning', EventReason.BindingApplyError, `Binding ${desired.binding.metadata.name ?? ''} could not be applied on node ${desired.nodeName} for pod ${desired.name}: ${why}`);
          return;
        }
        // A fresh GET of the object we just wrote is not needed: the JSON patch works on any version.
        const current: AzureAssignedIdentity = entry.assigned ?? { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureAssignedIdentity', metadata: { name: desired.name, namespace: desired.namespace }, spec: { pod: desired.podName, podNamespace: desired.podNamespace, nodename: desired.nodeName }, status: { status: AssignedIdentityState.Created } };
        const version = await this.setState(current, AssignedIdentityState.Assigned);
        deps.writes.written(key, desired.namespace, desired.name, version, now);
        assignedCount++;
        assignedKeys.push(`${desired.namespace}/${desired.name}`);
        await deps.events.record(bindingTarget(desired), 'Normal', EventReason.BindingApplied, appliedMessage(desired));
      })),
    );

    // 6: deletions.
    const removalDone = plan.identitiesToRemove.every((id) => !landed.has(id));
    const deletable = [...plan.deleteNow, ...(removalDone ? plan.deleteAfterRemoval : [])];
    failures.push(...(await forEachLimited(deletable, deps.writeConcurrency, (assigned) => this.deleteAssigned(key, assigned))));
    if (!removalDone && heldMs === undefined) {
      for (const assigned of plan.deleteAfterRemoval) {
        const target = assignedBindingTarget(assigned);
        if (target !== undefined) await deps.events.record(target, 'Warning', EventReason.BindingRemoveError, `Identity for ${assigned.metadata.name ?? ''} could not be removed from ${view.target === undefined ? key : targetResourceId(view.target)}: ${describeError(armError)}`);
      }
    }

    deps.observe?.({
      key,
      created: plan.writes.length,
      assigned: assignedCount + (plan.writes.length - pendingWrites.length),
      unassigned: plan.toUnassign.length,
      deleted: deletable.length,
      armWrites,
      identitiesAdded: plan.identitiesToAdd.filter((id) => landed.has(id)).length,
      identitiesRemoved: plan.identitiesToRemove.filter((id) => !landed.has(id)).length,
      assignedKeys,
    });
    if (armError !== undefined) throw armError instanceof Error ? armError : new Error(describeError(armError));
    if (refused.size > 0) throw new Error(`ARM refused identities [${[...refused.keys()].join(', ')}] on ${key}; retrying with backoff`);
    if (failures.length > 0) {
      log.warn({ failures: failures.map(describeError) }, 'some Kubernetes writes failed; retrying');
      throw new Error(`${failures.length} Kubernetes write(s) failed for ${key}: ${describeError(failures[0])}`, { cause: failures[0] });
    }
    if (heldMs !== undefined) return { requeueAfterMs: heldMs };
    return plan.nextGraceDeadline === undefined ? undefined : { requeueAfterMs: Math.max(0, plan.nextGraceDeadline - now) + 50 };
  }

  /** The refusals of `key` still holding at `now` (expired ones are kept for their failure count). */
  private activeRefusals(key: string, now: number): Map<string, RefusedHold> {
    return new Map([...(this.refusedHolds.get(key) ?? [])].filter(([, hold]) => hold.until > now));
  }

  /** New refusals of this wave start or grow a hold; an identity that landed is forgiven. */
  private recordRefusals(key: string, refused: ReadonlyMap<string, string>, alreadyHeld: ReadonlyMap<string, RefusedHold>, landed: ReadonlySet<string>): void {
    const holds = this.refusedHolds.get(key) ?? new Map<string, RefusedHold>();
    const now = this.deps.clock.now();
    for (const [id, reason] of refused) {
      if (alreadyHeld.has(id)) continue;
      const failures = (holds.get(id)?.failures ?? 0) + 1;
      holds.set(id, { until: now + backoffDelay(REFUSED_IDENTITY_BACKOFF, failures), failures, reason });
    }
    for (const id of landed) holds.delete(id);
    if (holds.size === 0) this.refusedHolds.delete(key);
    else this.refusedHolds.set(key, holds);
  }

  private async readTarget(key: string, target: ComputeTargetRef, signal: AbortSignal): Promise<TargetIdentityState> {
    const cached = this.identityCache.get(key);
    const fresh = cached !== undefined && this.deps.clock.now() - cached.at < this.deps.identityCacheTtlMs && !this.refreshRequested.has(key);
    if (fresh) return cached.state;
    this.refreshRequested.delete(key);
    const state = await this.deps.arm.getIdentity(target, signal);
    this.identityCache.set(key, { state, at: this.deps.clock.now() });
    return state;
  }

  /** Applies the plan's identity changes; refused identities are dropped and the rest retried once. */
  private async applyWave(
    key: string,
    target: ComputeTargetRef,
    start: TargetIdentityState,
    plan: TargetPlan,
    refused: Map<string, string>,
    signal: AbortSignal,
  ): Promise<{ state: TargetIdentityState; writes: number; error?: unknown }> {
    let state = start;
    let writes = 0;
    for (let attempt = 0; attempt < 2; attempt++) {
      const add = plan.identitiesToAdd.filter((id) => !refused.has(id));
      const remove = plan.identitiesToRemove.filter((id) => !refused.has(id));
      try {
        for (const patch of buildIdentityPatches(state.identity, add, remove)) {
          writes++;
          state = await this.deps.arm.patchIdentity(target, patch, signal);
          this.identityCache.set(key, { state, at: this.deps.clock.now() });
        }
        return { state, writes };
      } catch (error) {
        // Whatever happened, our picture of the target is stale now.
        this.identityCache.delete(key);
        if (error instanceof IdentityOperationError) {
          const named = error.identityIds.filter((id) => add.includes(id) || remove.includes(id));
          if (named.length > 0 && attempt === 0) {
            const reason = error.context.armCode === undefined ? error.message : `${error.context.armCode}: ${error.context.armMessage ?? ''}`;
            for (const id of named) refused.set(id, reason);
            this.deps.logger.warn({ target: targetResourceId(target), refused: named, err: error.message }, 'ARM refused identities; retrying the wave without them');
            state = await this.deps.arm.getIdentity(target, signal).catch(() => state);
            continue;
          }
        }
        return { state, writes, error };
      }
    }
    return { state, writes };
  }

  /** Writes an AAI's state; a failure is also reported on the AAI itself (upstream's "status update error"). */
  private async setState(assigned: AzureAssignedIdentity, state: AssignedIdentityState, options?: { unassignedAt?: string }): Promise<string> {
    try {
      return await this.deps.writer.setState(assigned, state, options);
    } catch (error) {
      await this.deps.events.record(
        { apiVersion: assigned.apiVersion, kind: 'AzureAssignedIdentity', namespace: assigned.metadata.namespace ?? '', name: assigned.metadata.name ?? '' },
        'Warning',
        EventReason.StatusUpdateError,
        `failed to update status to ${state}: ${describeError(error)}`,
      );
      throw error;
    }
  }

  private async deleteAssigned(key: string, assigned: AzureAssignedIdentity): Promise<void> {
    const { namespace, name } = keyOf(assigned);
    await this.deps.writer.delete(assigned);
    this.deps.writes.deleted(key, namespace, name, this.deps.clock.now());
    const target = assignedBindingTarget(assigned);
    if (target !== undefined) {
      await this.deps.events.record(target, 'Normal', EventReason.BindingRemoved, `Binding ${target.name} removed from node ${assigned.spec.nodename} for pod ${name}`);
    }
  }
}

function appliedMessage(desired: DesiredAssignment): string {
  return `Binding ${desired.binding.metadata.name ?? ''} applied on node ${desired.nodeName} for pod ${desired.name}`;
}
