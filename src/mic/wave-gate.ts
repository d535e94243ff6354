/**
 * The decisions a target's reconcile takes before its ARM wave, as pure functions beside plan.ts:
 * whether ARM must be read at all, which new AAIs wait for the wave (written `Created`) and which are
 * `Assigned` at once, and whether the wave goes out now, is held back by an earlier Retry-After, or
 * cannot go out (the VM/VMSS is gone, the nodes are not Azure nodes).
 * @module
 */
import type { AzureAssignedIdentity } from '../api/index.ts';
import type { TargetIdentityState } from '../azure/compute-identity-client.ts';
import type { NotFoundError } from '../azure/errors.ts';
import type { ComputeTargetRef } from '../azure/provider-id.ts';
import type { DesiredAssignment } from './model.ts';
import { assignedResourceIdKey, type TargetPlan } from './plan.ts';

/** Whether anything on the target is a user-assigned identity, so ARM must be read for it. */
export function needsArmRead(desiredOnTarget: readonly DesiredAssignment[], currentOnTarget: readonly AzureAssignedIdentity[]): boolean {
  return desiredOnTarget.some((desired) => desired.resourceIdKey !== undefined) || currentOnTarget.some((assigned) => assignedResourceIdKey(assigned) !== undefined);
}

/**
 * Whether the AAI of `desired` waits for the wave (written `Created`, marked `Assigned` once its
 * identity landed) rather than being written `Assigned` at once (no Azure change needed).
 * `onTarget` holds the lower-cased identity IDs on the target; `hasTarget` is false for nodes
 * without an Azure providerID.
 */
export function waitsForWave(desired: DesiredAssignment, onTarget: ReadonlySet<string>, hasTarget: boolean): boolean {
  return desired.resourceIdKey !== undefined && (!hasTarget || !onTarget.has(desired.resourceIdKey));
}

/** What happens to the plan's identity changes in this reconcile. */
export type WaveStep =
  /** One wave goes out now. */
  | { readonly kind: 'send'; readonly target: ComputeTargetRef; readonly start: TargetIdentityState }
  /** An earlier write's Retry-After has not passed: no ARM write before `heldMs`. */
  | { readonly kind: 'held'; readonly heldMs: number }
  /** No wave: nothing to change, or (with `error`) AAIs wait for a wave that cannot go out. */
  | { readonly kind: 'skip'; readonly error: Error | undefined };

export interface WaveGateInput {
  /** The VM or scale set; undefined for nodes without an Azure providerID. */
  readonly target: ComputeTargetRef | undefined;
  /** ARM's answer about the target's identities; undefined when not read or the target is gone. */
  readonly identities: TargetIdentityState | undefined;
  readonly plan: Pick<TargetPlan, 'identitiesToAdd' | 'identitiesToRemove'>;
  /** What is left of the target's ARM hold (target-state.ts); undefined when there is none. */
  readonly armHoldRemainingMs: number | undefined;
  /** ARM answered 404 for the target itself. */
  readonly targetGone: NotFoundError | undefined;
  /** How many of the plan's AAIs wait for the wave ({@link waitsForWave}). */
  readonly waitingWrites: number;
  /** The target's nodes, named when they are not Azure nodes. */
  readonly nodeNames: readonly string[];
}

/** Decides whether the wave goes out now (see {@link WaveStep}). */
export function waveStep(input: WaveGateInput): WaveStep {
  const { target, identities, plan } = input;
  if (target !== undefined && identities !== undefined && (plan.identitiesToAdd.length > 0 || plan.identitiesToRemove.length > 0)) {
    return input.armHoldRemainingMs === undefined ? { kind: 'send', target, start: identities } : { kind: 'held', heldMs: input.armHoldRemainingMs };
  }
  if (input.targetGone !== undefined && input.waitingWrites > 0) return { kind: 'skip', error: input.targetGone };
  if (target === undefined && input.waitingWrites > 0) {
    return { kind: 'skip', error: new Error(`nodes ${input.nodeNames.join(', ')} have no Azure providerID: cannot assign user-assigned identities there`) };
  }
  return { kind: 'skip', error: undefined };
}
