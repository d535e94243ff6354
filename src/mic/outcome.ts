/**
 * The decisions a target's reconcile takes after its ARM wave, as pure functions beside plan.ts:
 * from the plan and what ARM answered (which identities are on the target now, which it refused,
 * why the wave failed or was held back) → which AAIs to mark `Assigned`, which to leave `Created`
 * with a Warning Event saying why, which to delete, which removals failed, and what the reconcile
 * returns to the loop. The executor (reconcile-target.ts) carries these out.
 * @module
 */
import { AssignedIdentityState, type AzureAssignedIdentity } from '../api/index.ts';
import type { ReconcileResult } from '../lib/controller.ts';
import { describeError } from '../lib/errors.ts';
import { bindingApplyError, bindingRemoveError, type PlannedEvent } from './binding-events.ts';
import { objectKey, type DesiredAssignment } from './model.ts';
import { assignedResourceIdKey, type AssignmentWrite, type TargetPlan } from './plan.ts';
import { graceRequeueMs } from './retry-policy.ts';

/** What became of a target's ARM wave. */
export interface WaveResult {
  /** Lower-cased identity IDs on the target after the wave (as read before it when none went out). */
  readonly landed: ReadonlySet<string>;
  /** Identities ARM refused, in this wave or still held from an earlier one → ARM's reason. */
  readonly refused: ReadonlyMap<string, string>;
  /** Why the wave failed, or why AAIs wait for a wave that could not go out. */
  readonly error: unknown;
  /** Set when the wave was held back by an earlier write's Retry-After: ms left of that hold. */
  readonly heldMs: number | undefined;
}

export interface AfterWaveInput {
  readonly plan: TargetPlan;
  /** The plan's writes that waited for the wave (written `Created`). */
  readonly waitingWrites: readonly AssignmentWrite[];
  readonly desiredOnTarget: readonly DesiredAssignment[];
  /** The target as named in Events: its ARM ID, or the target key when it has none. */
  readonly targetName: string;
  readonly wave: WaveResult;
}

/** One AAI waiting for the wave: mark it `Assigned`, or say why its identity is not on the target. */
export type AssignStep =
  /** `current` is the AAI to patch (built from `desired` for one written in this reconcile). */
  | { readonly kind: 'mark'; readonly desired: DesiredAssignment; readonly current: AzureAssignedIdentity }
  | { readonly kind: 'warn'; readonly event: PlannedEvent };

export interface AfterWave {
  /** In the order the AAIs were planned. */
  readonly assignSteps: readonly AssignStep[];
  /** AAIs to delete: those with nothing to remove, and those whose identity removal is done. */
  readonly deletable: readonly AzureAssignedIdentity[];
  /** Warning Events for AAIs whose identity could not be removed. */
  readonly removeErrors: readonly PlannedEvent[];
  /** Identities the wave added / removed (for metrics). */
  readonly identitiesAdded: number;
  readonly identitiesRemoved: number;
}

/**
 * The AAI just written `Created` for `desired`, as the state patch needs it: a fresh GET of it is not
 * needed, the JSON patch works on any version.
 */
function writtenAssigned(desired: DesiredAssignment): AzureAssignedIdentity {
  return {
    apiVersion: 'aadpodidentity.k8s.io/v1',
    kind: 'AzureAssignedIdentity',
    metadata: { name: desired.name, namespace: desired.namespace },
    spec: { pod: desired.podName, podNamespace: desired.podNamespace, nodename: desired.nodeName },
    status: { status: AssignedIdentityState.Created },
  };
}

/** Decides what follows the wave (see {@link AfterWave}). */
export function afterWave(input: AfterWaveInput): AfterWave {
  const { plan, wave } = input;
  const waiting: { assigned?: AzureAssignedIdentity; desired?: DesiredAssignment; id: string | undefined }[] = [
    ...input.waitingWrites.map((write) => ({ desired: write.desired, id: write.desired.resourceIdKey })),
    ...plan.toMarkAssigned.map((assigned) => ({ assigned, id: assignedResourceIdKey(assigned) })),
  ];
  // Indexed once: a scale set can carry thousands of assignments, and a linear search per AAI is quadratic.
  const desiredByKey = new Map(input.desiredOnTarget.map((candidate) => [objectKey(candidate.namespace, candidate.name), candidate]));
  const assignSteps: AssignStep[] = [];
  for (const entry of waiting) {
    const desired = entry.desired ?? (entry.assigned === undefined ? undefined : desiredByKey.get(objectKey(entry.assigned.metadata.namespace ?? '', entry.assigned.metadata.name ?? '')));
    if (desired === undefined) continue;
    if (entry.id !== undefined && !wave.landed.has(entry.id)) {
      // Held back: the failed write that started the hold already said why.
      if (wave.heldMs !== undefined) continue;
      const refusal = wave.refused.get(entry.id);
      const why = refusal !== undefined ? `ARM refused identity ${entry.id}: ${refusal}` : describeError(wave.error ?? 'the identity is not on the VM/VMSS');
      assignSteps.push({ kind: 'warn', event: bindingApplyError(desired, why) });
      continue;
    }
    assignSteps.push({ kind: 'mark', desired, current: entry.assigned ?? writtenAssigned(desired) });
  }

  const removalDone = plan.identitiesToRemove.every((id) => !wave.landed.has(id));
  const removeErrors: PlannedEvent[] = [];
  if (!removalDone && wave.heldMs === undefined) {
    for (const assigned of plan.deleteAfterRemoval) {
      const event = bindingRemoveError(assigned, input.targetName, wave.error);
      if (event !== undefined) removeErrors.push(event);
    }
  }
  return {
    assignSteps,
    deletable: [...plan.deleteNow, ...(removalDone ? plan.deleteAfterRemoval : [])],
    removeErrors,
    identitiesAdded: plan.identitiesToAdd.filter((id) => wave.landed.has(id)).length,
    identitiesRemoved: plan.identitiesToRemove.filter((id) => !wave.landed.has(id)).length,
  };
}

/** How a reconcile ends: with an error for the loop (retried with backoff or after Retry-After), or a result. */
export type ReconcileVerdict =
  /** The wave failed or could not go out; identities refused; or (`kube-writes`) Kubernetes writes failed. */
  | { readonly kind: 'arm' | 'refused' | 'kube-writes'; readonly error: Error }
  | { readonly kind: 'done'; readonly result: ReconcileResult | undefined };

export interface VerdictInput {
  readonly key: string;
  readonly wave: Pick<WaveResult, 'error' | 'refused' | 'heldMs'>;
  /** What the Kubernetes writes of this reconcile threw. */
  readonly failures: readonly unknown[];
  /** The plan's earliest pending grace deadline. */
  readonly nextGraceDeadline: number | undefined;
  readonly now: number;
}

/**
 * ARM's error wins (a RetryAfterError keeps its delay); then refusals and failed Kubernetes writes,
 * retried with backoff. A held wave asks to be requeued when its hold ends — not a failure, so the
 * target's backoff does not grow — and a pending grace period when it ends.
 */
export function reconcileVerdict(input: VerdictInput): ReconcileVerdict {
  const { wave, failures } = input;
  if (wave.error !== undefined) return { kind: 'arm', error: wave.error instanceof Error ? wave.error : new Error(describeError(wave.error)) };
  if (wave.refused.size > 0) return { kind: 'refused', error: new Error(`ARM refused identities [${[...wave.refused.keys()].join(', ')}] on ${input.key}; retrying with backoff`) };
  if (failures.length > 0) {
    return { kind: 'kube-writes', error: new Error(`${failures.length} Kubernetes write(s) failed for ${input.key}: ${describeError(failures[0])}`, { cause: failures[0] }) };
  }
  if (wave.heldMs !== undefined) return { kind: 'done', result: { requeueAfterMs: wave.heldMs } };
  return { kind: 'done', result: input.nextGraceDeadline === undefined ? undefined : { requeueAfterMs: graceRequeueMs(input.nextGraceDeadline, input.now) } };
}
