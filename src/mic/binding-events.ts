/**
 * The Events MIC records while carrying out a target's plan, with upstream's reasons and wording
 * (`binding applied`, `binding apply error`, `binding removed`, `binding remove error` on the
 * binding; `status update error` on the AAI). Pure: builds them; the executor records them.
 * @module
 */
import { EventReason, type AssignedIdentityState, type AzureAssignedIdentity } from '../api/index.ts';
import type { EventTarget, EventType } from '../kube/events.ts';
import { describeError } from '../lib/errors.ts';
import type { DesiredAssignment } from './model.ts';

/** One Event to record. */
export interface PlannedEvent {
  readonly target: EventTarget;
  readonly type: EventType;
  readonly reason: EventReason;
  readonly message: string;
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

/** The binding an AAI embeds; undefined when it embeds none. */
function assignedBindingTarget(assigned: AzureAssignedIdentity): EventTarget | undefined {
  const binding = assigned.spec.azureBindingRef;
  if (binding === undefined) return undefined;
  return { apiVersion: binding.apiVersion, kind: 'AzureIdentityBinding', namespace: binding.metadata.namespace ?? '', name: binding.metadata.name ?? '' };
}

/** The assignment is in place (its AAI Assigned). */
export function bindingApplied(desired: DesiredAssignment): PlannedEvent {
  return {
    target: bindingTarget(desired),
    type: 'Normal',
    reason: EventReason.BindingApplied,
    message: `Binding ${desired.binding.metadata.name ?? ''} applied on node ${desired.nodeName} for pod ${desired.name}`,
  };
}

/** The assignment's identity is not on the target; `why` says what ARM (or MIC) answered. */
export function bindingApplyError(desired: DesiredAssignment, why: string): PlannedEvent {
  return {
    target: bindingTarget(desired),
    type: 'Warning',
    reason: EventReason.BindingApplyError,
    message: `Binding ${desired.binding.metadata.name ?? ''} could not be applied on node ${desired.nodeName} for pod ${desired.name}: ${why}`,
  };
}

/** The AAI was deleted; undefined when it names no binding. */
export function bindingRemoved(assigned: AzureAssignedIdentity): PlannedEvent | undefined {
  const target = assignedBindingTarget(assigned);
  if (target === undefined) return undefined;
  return {
    target,
    type: 'Normal',
    reason: EventReason.BindingRemoved,
    message: `Binding ${target.name} removed from node ${assigned.spec.nodename} for pod ${assigned.metadata.name ?? ''}`,
  };
}

/** The AAI's identity could not be removed from `targetName`; undefined when it names no binding. */
export function bindingRemoveError(assigned: AzureAssignedIdentity, targetName: string, error: unknown): PlannedEvent | undefined {
  const target = assignedBindingTarget(assigned);
  if (target === undefined) return undefined;
  return {
    target,
    type: 'Warning',
    reason: EventReason.BindingRemoveError,
    message: `Identity for ${assigned.metadata.name ?? ''} could not be removed from ${targetName}: ${describeError(error)}`,
  };
}

/** Writing the AAI's state failed (upstream's "status update error", on the AAI itself). */
export function statusUpdateError(assigned: AzureAssignedIdentity, state: AssignedIdentityState, error: unknown): PlannedEvent {
  return {
    target: { apiVersion: assigned.apiVersion, kind: 'AzureAssignedIdentity', namespace: assigned.metadata.namespace ?? '', name: assigned.metadata.name ?? '' },
    type: 'Warning',
    reason: EventReason.StatusUpdateError,
    message: `failed to update status to ${state}: ${describeError(error)}`,
  };
}
