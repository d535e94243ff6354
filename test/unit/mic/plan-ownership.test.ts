import { describe, expect, it } from 'vitest';
import { computeDesiredState } from '../../../src/mic/desired.ts';
import { objectKey, type DesiredAssignment } from '../../../src/mic/model.ts';
import { planTarget, type TargetPlanInput } from '../../../src/mic/plan.ts';
import { PREEXISTING_ANNOTATION, UNASSIGNED_AT_ANNOTATION, type AzureIdentity } from '../../../src/api/index.ts';
import { assignedFrom, binding, identity, identityId, pod, vmssNode } from '../../support/mic-fixtures.ts';

// Ownership records across AAI rewrites: an AAI recreated after a user deleted it, and an AAI
// rewritten because its AzureIdentity now names another Azure identity.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const idA = identityId('a').toLowerCase();
const idOther = identityId('other').toLowerCase();

function desiredWith(identities: AzureIdentity[], pods: { name: string; label: string }[]): DesiredAssignment[] {
  const state = computeDesiredState(
    {
      pods: pods.map((entry) => pod(entry.name, entry)),
      nodes: new Map([['node-0', vmssNode('node-0')]]),
      identities: new Map(identities.map((entry) => [objectKey('default', entry.metadata.name ?? ''), entry])),
      bindings: identities.map((entry) => binding(`${entry.metadata.name ?? ''}-binding`, entry.metadata.name ?? '', entry.metadata.name ?? '')),
      assigned: new Map(),
    },
    { forceNamespaced: false },
  );
  return [...state.assignments.values()];
}

function input(overrides: Partial<TargetPlanInput> & { desiredOnTarget: readonly DesiredAssignment[] }): TargetPlanInput {
  return {
    desiredKeys: new Set(overrides.desiredOnTarget.map((desired) => objectKey(desired.namespace, desired.name))),
    currentOnTarget: [],
    onTarget: new Set(),
    immutable: new Set(),
    gracePeriodMs: 30_000,
    now: NOW,
    ...overrides,
  };
}

describe('planTarget: an AAI deleted by a user is recreated with the ownership it had', () => {
  it('an identity MIC added stays MIC-owned (not preexisting), so it is removed when the pod goes', () => {
    const desired = desiredWith([identity('a')], [{ name: 'p1', label: 'a' }]);
    const assigned = assignedFrom(desired[0]!, 'Assigned');
    const terminating = { ...assigned, metadata: { ...assigned.metadata, deletionTimestamp: new Date(NOW) } };
    const plan = planTarget(input({ desiredOnTarget: desired, currentOnTarget: [terminating], onTarget: new Set([idA]) }));
    expect(plan.releaseFirst).toEqual([terminating]);
    expect(plan.writes.map((write) => [write.current, write.preexisting])).toEqual([[undefined, false]]);
  });

  it('a preexisting identity stays preexisting', () => {
    const desired = desiredWith([identity('a')], [{ name: 'p1', label: 'a' }]);
    const assigned = assignedFrom(desired[0]!, 'Assigned', { [PREEXISTING_ANNOTATION]: 'true' });
    const terminating = { ...assigned, metadata: { ...assigned.metadata, deletionTimestamp: new Date(NOW) } };
    const plan = planTarget(input({ desiredOnTarget: desired, currentOnTarget: [terminating], onTarget: new Set([idA]) }));
    expect(plan.writes.map((write) => write.preexisting)).toEqual([true]);
  });
});

describe('planTarget: an AzureIdentity edited to name another resource ID', () => {
  const before = desiredWith([identity('a')], [{ name: 'p1', label: 'a' }, { name: 'p2', label: 'a' }]);
  const after = desiredWith([identity('a', { resourceID: identityId('other') })], [{ name: 'p1', label: 'a' }, { name: 'p2', label: 'a' }]);

  it('rewrites the AAIs, adds the new ID and removes the old one in the same wave', () => {
    const current = before.map((desired) => assignedFrom(desired, 'Assigned'));
    const plan = planTarget(input({ desiredOnTarget: after, currentOnTarget: current, onTarget: new Set([idA]) }));
    expect(plan.writes.map((write) => write.current)).toEqual(current);
    expect(plan.identitiesToAdd).toEqual([idOther]);
    expect(plan.identitiesToRemove).toEqual([idA]);
  });

  it('keeps the old ID when it was preexisting, immutable, still needed, or has a removal pending its grace period', () => {
    const preexisting = before.map((desired) => assignedFrom(desired, 'Assigned', { [PREEXISTING_ANNOTATION]: 'true' }));
    expect(planTarget(input({ desiredOnTarget: after, currentOnTarget: preexisting, onTarget: new Set([idA]) })).identitiesToRemove).toEqual([]);

    const current = before.map((desired) => assignedFrom(desired, 'Assigned'));
    expect(planTarget(input({ desiredOnTarget: after, currentOnTarget: current, onTarget: new Set([idA]), immutable: new Set(['a-client']) })).identitiesToRemove).toEqual([]);

    // Another AzureIdentity with the old resource ID is still bound to a pod on the target.
    const stillNeeded = desiredWith([identity('b', { resourceID: identityId('a') })], [{ name: 'p3', label: 'b' }]);
    expect(planTarget(input({ desiredOnTarget: [...after, ...stillNeeded], currentOnTarget: current, onTarget: new Set([idA]) })).identitiesToRemove).toEqual([]);

    // A pod that used the old ID went a moment ago: its grace period decides.
    const [gone] = desiredWith([identity('a')], [{ name: 'p9', label: 'a' }]);
    const pending = assignedFrom(gone!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: new Date(NOW - 1_000).toISOString() });
    const plan = planTarget(input({ desiredOnTarget: after, currentOnTarget: [...current, pending], onTarget: new Set([idA]) }));
    expect(plan.identitiesToRemove).toEqual([]);
    expect(plan.nextGraceDeadline).toBe(NOW + 29_000);
  });

  it('does nothing for an old ID that is no longer on the target', () => {
    const current = before.map((desired) => assignedFrom(desired, 'Assigned'));
    expect(planTarget(input({ desiredOnTarget: after, currentOnTarget: current })).identitiesToRemove).toEqual([]);
  });
});
