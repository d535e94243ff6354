/**
 * The executor of one VM's or scale set's reconcile. It decides nothing itself: it reads the target's
 * identities from ARM (cached, target-state.ts), plans (plan.ts), and carries the plan out in an
 * order that never grants more than intended: 1. let go of AAIs someone else is deleting; 2. mark
 * AAIs no longer desired `Unassigned` (NMIs stop serving them); 3. write new and changed AAIs
 * (`Created` when they wait for the wave, wave-gate.ts); 4. one ARM wave adding and removing
 * identities, when wave-gate.ts lets it go out (arm-wave.ts); 5. mark what landed `Assigned` and
 * send the Events outcome.ts decided; 6. delete the AAIs outcome.ts names. It returns or throws
 * what outcome.ts's verdict says; the loop (../lib/controller.ts) turns that into a retry.
 * @module
 */
import type { Logger } from 'pino';
import { AssignedIdentityState, type AzureAssignedIdentity } from '../api/index.ts';
import type { ComputeIdentityClient, TargetIdentityState } from '../azure/compute-identity-client.ts';
import { NotFoundError } from '../azure/errors.ts';
import { targetResourceId, type ComputeTargetRef } from '../azure/provider-id.ts';
import type { Clock } from '../lib/clock.ts';
import type { ReconcileResult } from '../lib/controller.ts';
import { describeError } from '../lib/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import { applyArmWave } from './arm-wave.ts';
import type { AssignedIdentityWriter } from './assigned-writer.ts';
import { bindingApplied, bindingRemoved, statusUpdateError, type PlannedEvent } from './binding-events.ts';
import { afterWave, reconcileVerdict, type WaveResult } from './outcome.ts';
import { planTarget, type TargetPlan } from './plan.ts';
import { MIC_RETRY_POLICY } from './retry-policy.ts';
import type { TargetState } from './target-state.ts';
import type { TargetView } from './view.ts';
import { needsArmRead, waitsForWave, waveStep } from './wave-gate.ts';
import type { WriteTracker } from './write-tracker.ts';

export interface TargetReconcilerDeps {
  readonly view: { targetView(key: string): TargetView };
  readonly writer: AssignedIdentityWriter;
  readonly arm: ComputeIdentityClient;
  readonly events: Pick<EventRecorder, 'record'>;
  readonly writes: WriteTracker;
  /** What is remembered per target between reconciles: ARM's answer, holds. */
  readonly state: TargetState;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Lower-cased client IDs and resource IDs never removed from a target. */
  readonly immutable: () => ReadonlySet<string>;
  readonly gracePeriodMs: number;
  /** Concurrent Kubernetes writes per target (upstream's --createDeleteBatch). */
  readonly writeConcurrency: number;
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

const lowerCased = (state: TargetIdentityState | undefined): Set<string> => new Set((state?.identity.userAssignedIdentities ?? []).map((id) => id.toLowerCase()));

export class TargetReconciler {
  private readonly deps: TargetReconcilerDeps;

  constructor(deps: TargetReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult | undefined> {
    const { deps } = this;
    const now = deps.clock.now();
    const view = deps.view.targetView(key);
    if (deps.writes.lagging(key, view.currentOnTarget, now)) return { requeueAfterMs: MIC_RETRY_POLICY.cacheLagRequeueMs };
    if (view.desiredOnTarget.length === 0 && view.currentOnTarget.length === 0) {
      deps.state.forget(key);
      return undefined;
    }

    const { identities, targetGone } = await this.readIdentities(view, signal);
    const onTarget = lowerCased(identities);
    const plan = planTarget({
      desiredOnTarget: view.desiredOnTarget,
      desiredKeys: view.desiredKeys,
      currentOnTarget: view.currentOnTarget,
      onTarget,
      immutable: deps.immutable(),
      gracePeriodMs: deps.gracePeriodMs,
      now,
    });
    const targetName = view.target === undefined ? key : targetResourceId(view.target);
    const log = deps.logger.child({ target: targetName });
    const failures: unknown[] = [];

    // 1–2: revoke before granting anything.
    failures.push(...(await forEachLimited(plan.releaseFirst, deps.writeConcurrency, (assigned) => this.deleteAssigned(key, assigned))));
    failures.push(
      ...(await forEachLimited(plan.toUnassign, deps.writeConcurrency, async (assigned) => {
        const version = await this.setState(assigned, AssignedIdentityState.Unassigned, { unassignedAt: new Date(now).toISOString() });
        deps.writes.written(key, assigned.metadata.namespace ?? '', assigned.metadata.name ?? '', version, now);
      })),
    );

    // 3: new and changed AAIs. Those needing no Azure change are written Assigned directly.
    const hasTarget = view.target !== undefined;
    const waitingWrites = plan.writes.filter((write) => waitsForWave(write.desired, onTarget, hasTarget));
    const targetId = view.target === undefined ? undefined : targetResourceId(view.target);
    const assignedKeys: string[] = [];
    failures.push(
      ...(await forEachLimited(plan.writes, deps.writeConcurrency, async (write) => {
        const state = waitsForWave(write.desired, onTarget, hasTarget) ? AssignedIdentityState.Created : AssignedIdentityState.Assigned;
        const version = await deps.writer.write(write.desired, write.preexisting, write.current, state, targetId);
        deps.writes.written(key, write.desired.namespace, write.desired.name, version, now);
        if (state === AssignedIdentityState.Assigned) {
          assignedKeys.push(`${write.desired.namespace}/${write.desired.name}`);
          await this.record(bindingApplied(write.desired));
        }
      })),
    );

    // 4: one ARM wave.
    const wave = await this.runWave(key, view, identities, targetGone, plan, waitingWrites.length, now, log, signal);

    // 5: mark what landed Assigned; say what did not.
    const after = afterWave({ plan, waitingWrites, desiredOnTarget: view.desiredOnTarget, targetName, wave });
    let assignedCount = 0;
    failures.push(
      ...(await forEachLimited(after.assignSteps, deps.writeConcurrency, async (step) => {
        if (step.kind === 'warn') {
          await this.record(step.event);
          return;
        }
        const version = await this.setState(step.current, AssignedIdentityState.Assigned);
        deps.writes.written(key, step.desired.namespace, step.desired.name, version, now);
        assignedCount++;
        assignedKeys.push(`${step.desired.namespace}/${step.desired.name}`);
        await this.record(bindingApplied(step.desired));
      })),
    );

    // 6: deletions.
    failures.push(...(await forEachLimited(after.deletable, deps.writeConcurrency, (assigned) => this.deleteAssigned(key, assigned))));
    for (const event of after.removeErrors) await this.record(event);

    deps.observe?.({
      key,
      created: plan.writes.length,
      assigned: assignedCount + (plan.writes.length - waitingWrites.length),
      unassigned: plan.toUnassign.length,
      deleted: after.deletable.length,
      armWrites: wave.armWrites,
      identitiesAdded: after.identitiesAdded,
      identitiesRemoved: after.identitiesRemoved,
      assignedKeys,
    });
    const verdict = reconcileVerdict({ key, wave, failures, nextGraceDeadline: plan.nextGraceDeadline, now });
    if (verdict.kind === 'kube-writes') log.warn({ failures: failures.map(describeError) }, 'some Kubernetes writes failed; retrying');
    if (verdict.kind !== 'done') throw verdict.error;
    return verdict.result;
  }

  /** ARM's answer about the target's identities, when anything there is a user-assigned identity. */
  private async readIdentities(view: TargetView, signal: AbortSignal): Promise<{ identities?: TargetIdentityState; targetGone?: NotFoundError }> {
    if (view.target === undefined || !needsArmRead(view.desiredOnTarget, view.currentOnTarget)) return {};
    try {
      // A node is gone: its VM may be gone with it, so do not trust a cached answer.
      if (view.nodeMissing) this.deps.state.requestRefresh(view.key);
      return { identities: await this.readTarget(view.key, view.target, signal) };
    } catch (error) {
      // The VM (or scale set) itself is gone, e.g. deleted with its node: nothing is on it any more,
      // so its AAIs are cleaned up without ARM calls; new assignments there cannot work.
      if (!(error instanceof NotFoundError)) throw error;
      return { targetGone: error };
    }
  }

  private async readTarget(key: string, target: ComputeTargetRef, signal: AbortSignal): Promise<TargetIdentityState> {
    const { state, arm, clock } = this.deps;
    const cached = state.identitiesToReuse(key, clock.now());
    if (cached !== undefined) return cached;
    const read = await arm.getIdentity(target, signal);
    state.rememberIdentities(key, read, clock.now());
    return read;
  }

  /** Step 4: sends the wave when wave-gate.ts lets it go out, and updates the target's holds. */
  private async runWave(
    key: string,
    view: TargetView,
    identities: TargetIdentityState | undefined,
    targetGone: NotFoundError | undefined,
    plan: TargetPlan,
    waitingWrites: number,
    now: number,
    log: Logger,
    signal: AbortSignal,
  ): Promise<WaveResult & { readonly armWrites: number }> {
    const { deps } = this;
    const held = deps.state.activeRefusals(key, now);
    // The same reason as the refusal itself: the Warning Event then repeats (its count goes up) instead
    // of becoming a new Event every time.
    const refused = new Map([...held].map(([id, hold]) => [id, hold.reason]));
    if (held.size > 0) log.debug({ held: [...held].map(([id, hold]) => ({ id, until: new Date(hold.until).toISOString(), failures: hold.failures })) }, 'identities ARM refused are not written again before their hold ends');
    const step = waveStep({ target: view.target, identities, plan, armHoldRemainingMs: deps.state.armHoldRemainingMs(key, now), targetGone, waitingWrites, nodeNames: view.nodeNames });
    if (step.kind === 'held') {
      log.debug({ heldMs: step.heldMs }, 'ARM writes to this target held back until the Retry-After of the last one has passed');
      return { landed: lowerCased(identities), refused, error: undefined, heldMs: step.heldMs, armWrites: 0 };
    }
    if (step.kind === 'skip') return { landed: lowerCased(identities), refused, error: step.error, heldMs: undefined, armWrites: 0 };

    const result = await applyArmWave({
      arm: deps.arm,
      target: step.target,
      start: step.start,
      add: plan.identitiesToAdd,
      remove: plan.identitiesToRemove,
      leaveOut: new Set(refused.keys()),
      signal,
      logger: deps.logger,
      onState: (state) => {
        deps.state.rememberIdentities(key, state, deps.clock.now());
      },
      onStale: () => {
        deps.state.forgetIdentities(key);
      },
    });
    for (const [id, reason] of result.refused) refused.set(id, reason);
    const landed = lowerCased(result.state);
    deps.state.recordRefusals(key, refused, held, landed, deps.clock.now());
    deps.state.armWaveEnded(key, result.error, deps.clock.now());
    return { landed, refused, error: result.error, heldMs: undefined, armWrites: result.writes };
  }

  private async record(event: PlannedEvent): Promise<void> {
    await this.deps.events.record(event.target, event.type, event.reason, event.message);
  }

  /** Writes an AAI's state; a failure is also reported on the AAI itself (upstream's "status update error"). */
  private async setState(assigned: AzureAssignedIdentity, state: AssignedIdentityState, options?: { unassignedAt?: string }): Promise<string> {
    try {
      return await this.deps.writer.setState(assigned, state, options);
    } catch (error) {
      await this.record(statusUpdateError(assigned, state, error));
      throw error;
    }
  }

  private async deleteAssigned(key: string, assigned: AzureAssignedIdentity): Promise<void> {
    await this.deps.writer.delete(assigned);
    this.deps.writes.deleted(key, assigned.metadata.namespace ?? '', assigned.metadata.name ?? '', this.deps.clock.now());
    const event = bindingRemoved(assigned);
    if (event !== undefined) await this.record(event);
  }
}
