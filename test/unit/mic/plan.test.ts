import { describe, expect, it } from 'vitest';
import { computeDesiredState } from '../../../src/mic/desired.ts';
import { objectKey, type DesiredAssignment } from '../../../src/mic/model.ts';
import { PREEXISTING_ANNOTATION, readAzureAssignedIdentity, UNASSIGNED_AT_ANNOTATION } from '../../../src/api/index.ts';
import { planTarget, withoutZeroValues, type TargetPlanInput } from '../../../src/mic/plan.ts';
import { assignedFrom, binding, identity, identityId, pod, vmssNode } from '../../support/mic-fixtures.ts';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const GRACE = 30_000;

/** Desired assignments for pods labelled with identity names (one binding per identity, selector = name). */
/** The type of each fixture identity: `sp` is a service principal, `fed` and `fed-a` are federated (`fed-a` names a's resource ID). */
function typeOf(name: string): 0 | 1 | 3 {
  return name === 'sp' ? 1 : name.startsWith('fed') ? 3 : 0;
}

function desiredFor(pods: { name: string; label: string; node?: string; namespace?: string }[], identities = ['a', 'b', 'sp', 'fed', 'fed-a']): DesiredAssignment[] {
  const state = computeDesiredState(
    {
      pods: pods.map((entry) => pod(entry.name, entry)),
      nodes: new Map([['node-0', vmssNode('node-0')]]),
      identities: new Map(
        identities.map((name) => [objectKey('default', name), identity(name, { type: typeOf(name), ...(name === 'fed-a' ? { resourceID: identityId('a') } : {}) })]),
      ),
      bindings: identities.map((name) => binding(`${name}-binding`, name, name)),
      assigned: new Map(),
    },
    { forceNamespaced: false },
  );
  return [...state.assignments.values()];
}

function input(overrides: Partial<TargetPlanInput>): TargetPlanInput {
  const desiredOnTarget = overrides.desiredOnTarget ?? [];
  return {
    desiredOnTarget,
    desiredKeys: new Set(desiredOnTarget.map((desired) => objectKey(desired.namespace, desired.name))),
    currentOnTarget: [],
    onTarget: new Set(),
    immutable: new Set(),
    gracePeriodMs: GRACE,
    now: NOW,
    ...overrides,
  };
}

const idA = identityId('a').toLowerCase();
const idB = identityId('b').toLowerCase();

describe('planTarget', () => {
  it('creates AAIs and adds identities not on the target, once per identity however many pods', () => {
    const desired = desiredFor([{ name: 'p1', label: 'a' }, { name: 'p2', label: 'a' }, { name: 'p3', label: 'b' }]);
    const plan = planTarget(input({ desiredOnTarget: desired }));
    expect(plan.writes).toHaveLength(3);
    expect(plan.writes.every((write) => write.current === undefined && !write.preexisting)).toBe(true);
    expect(plan.identitiesToAdd).toEqual([idA, idB]);
    expect(plan.identitiesToRemove).toEqual([]);
  });

  it('marks an identity already on the target (with no AAI of ours) as preexisting and adds nothing', () => {
    const desired = desiredFor([{ name: 'p1', label: 'a' }]);
    const plan = planTarget(input({ desiredOnTarget: desired, onTarget: new Set([idA]) }));
    expect(plan.identitiesToAdd).toEqual([]);
    expect(plan.writes[0]?.preexisting).toBe(true);
  });

  it('new AAIs inherit ownership from existing AAIs of the same identity', () => {
    const [first, second] = desiredFor([{ name: 'p1', label: 'a' }, { name: 'p2', label: 'a' }]);
    const owned = planTarget(input({ desiredOnTarget: [first!, second!], currentOnTarget: [assignedFrom(first!, 'Assigned')], onTarget: new Set([idA]) }));
    expect(owned.writes.map((write) => [write.desired.podName, write.preexisting])).toEqual([['p2', false]]);
    const preexisting = planTarget(
      input({ desiredOnTarget: [first!, second!], currentOnTarget: [assignedFrom(first!, 'Assigned', { [PREEXISTING_ANNOTATION]: 'true' })], onTarget: new Set([idA]) }),
    );
    expect(preexisting.writes[0]?.preexisting).toBe(true);
  });

  it('moves Created AAIs to Assigned when the identity is on the target, and re-adds it when not', () => {
    const desired = desiredFor([{ name: 'p1', label: 'a' }]);
    const created = assignedFrom(desired[0]!, 'Created');
    expect(planTarget(input({ desiredOnTarget: desired, currentOnTarget: [created], onTarget: new Set([idA]) })).toMarkAssigned).toEqual([created]);
    const retry = planTarget(input({ desiredOnTarget: desired, currentOnTarget: [created] }));
    expect(retry.identitiesToAdd).toEqual([idA]);
    expect(retry.toMarkAssigned).toEqual([created]);
  });

  it('leaves up-to-date Assigned AAIs alone, and re-adds an identity removed out of band (drift)', () => {
    const desired = desiredFor([{ name: 'p1', label: 'a' }]);
    const assigned = assignedFrom(desired[0]!, 'Assigned');
    const quiet = planTarget(input({ desiredOnTarget: desired, currentOnTarget: [assigned], onTarget: new Set([idA]) }));
    expect(quiet).toMatchObject({ writes: [], toMarkAssigned: [], toUnassign: [], identitiesToAdd: [], identitiesToRemove: [] });
    const drifted = planTarget(input({ desiredOnTarget: desired, currentOnTarget: [assigned] }));
    expect(drifted.identitiesToAdd).toEqual([idA]);
  });

  it('rewrites an AAI whose identity or binding content changed', () => {
    const [desired] = desiredFor([{ name: 'p1', label: 'a' }]);
    const stale = assignedFrom({ ...desired!, identity: identity('a', { clientID: 'old-client' }) }, 'Assigned');
    const plan = planTarget(input({ desiredOnTarget: [desired!], currentOnTarget: [stale], onTarget: new Set([idA]) }));
    expect(plan.writes).toHaveLength(1);
    expect(plan.writes[0]?.current).toBe(stale);
  });

  it('takes over an AAI in upstream v1.8.17’s wire shape as it is: Go zero values count as absent', () => {
    const [desired] = desiredFor([{ name: 'p1', label: 'a' }]);
    const { spec } = desired!.identity;
    // What upstream's MIC embeds (read back from the API server in test/integration/upstream/handover.test.ts):
    // no `type` (0, omitempty), an empty `clientPassword` struct, empty metadata inside spec and status.
    const upstreamShape = readAzureAssignedIdentity({
      apiVersion: 'aadpodidentity.k8s.io/v1',
      kind: 'AzureAssignedIdentity',
      metadata: { name: desired!.name, namespace: desired!.namespace, labels: { nodename: desired!.nodeName } },
      spec: {
        azureIdentityRef: { ...desired!.identity, spec: { clientID: spec.clientID, resourceID: spec.resourceID, clientPassword: {}, metadata: { creationTimestamp: null } }, status: { metadata: { creationTimestamp: null } } },
        azureBindingRef: { ...desired!.binding, spec: { ...desired!.binding.spec, weight: 0, metadata: { creationTimestamp: null } }, status: { metadata: { creationTimestamp: null } } },
        metadata: { creationTimestamp: null },
        pod: desired!.podName,
        podNamespace: desired!.podNamespace,
        nodename: desired!.nodeName,
      },
      status: { status: 'Assigned', availableReplicas: 1 },
    });
    const plan = planTarget(input({ desiredOnTarget: [desired!], currentOnTarget: [upstreamShape], onTarget: new Set([idA]) }));
    expect(plan.writes).toEqual([]);
    expect(plan.toMarkAssigned).toEqual([]);
    expect(plan.identitiesToAdd).toEqual([]);

    // A value that is not a zero value still counts.
    const tenant = { ...upstreamShape, spec: { ...upstreamShape.spec, azureIdentityRef: { ...upstreamShape.spec.azureIdentityRef!, spec: { ...upstreamShape.spec.azureIdentityRef!.spec, tenantID: 'other' } } } };
    expect(planTarget(input({ desiredOnTarget: [desired!], currentOnTarget: [tenant], onTarget: new Set([idA]) })).writes).toHaveLength(1);
  });

  it('withoutZeroValues drops zero fields recursively and keeps the elements of non-empty lists', () => {
    expect(withoutZeroValues({ a: '', b: 0, c: false, d: null, e: [], f: {}, g: { h: '' }, i: 'x', j: 1 })).toEqual({ i: 'x', j: 1 });
    expect(withoutZeroValues({ list: ['a', ''] })).toEqual({ list: ['a', ''] });
    expect(withoutZeroValues({})).toBeUndefined();
  });

  it('unassigns an AAI no longer desired first, and removes the identity only after the grace period', () => {
    const [gone] = desiredFor([{ name: 'p1', label: 'a' }]);
    const assigned = assignedFrom(gone!, 'Assigned');
    const first = planTarget(input({ currentOnTarget: [assigned], onTarget: new Set([idA]) }));
    expect(first.toUnassign).toEqual([assigned]);
    expect(first.identitiesToRemove).toEqual([]);
    expect(first.nextGraceDeadline).toBe(NOW + GRACE);

    const unassigned = assignedFrom(gone!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: new Date(NOW - 10_000).toISOString() });
    const waiting = planTarget(input({ currentOnTarget: [unassigned], onTarget: new Set([idA]) }));
    expect(waiting.identitiesToRemove).toEqual([]);
    expect(waiting.deleteNow).toEqual([]);
    expect(waiting.nextGraceDeadline).toBe(NOW + 20_000);

    const later = planTarget(input({ currentOnTarget: [unassigned], onTarget: new Set([idA]), now: NOW + 20_000 }));
    expect(later.identitiesToRemove).toEqual([idA]);
    expect(later.deleteAfterRemoval).toEqual([unassigned]);
  });

  it('a rolling update: the new pod needs the identity, so the old AAI goes without any ARM change', () => {
    const [oldPod, newPod] = desiredFor([{ name: 'web-1', label: 'a' }, { name: 'web-2', label: 'a' }]);
    const unassigned = assignedFrom(oldPod!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: new Date(NOW - 60_000).toISOString() });
    const plan = planTarget(input({ desiredOnTarget: [newPod!], currentOnTarget: [unassigned, assignedFrom(newPod!, 'Assigned')], onTarget: new Set([idA]) }));
    expect(plan.identitiesToAdd).toEqual([]);
    expect(plan.identitiesToRemove).toEqual([]);
    expect(plan.deleteNow).toEqual([unassigned]);
  });

  it('keeps an identity that a pod in another namespace with the same name still needs', () => {
    const [apps] = desiredFor([{ name: 'x', label: 'a', namespace: 'apps' }]);
    const [web] = desiredFor([{ name: 'x', label: 'a', namespace: 'web' }]);
    const leftover = assignedFrom(apps!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: new Date(NOW - 60_000).toISOString() });
    const plan = planTarget(input({ desiredOnTarget: [web!], currentOnTarget: [leftover, assignedFrom(web!, 'Assigned')], onTarget: new Set([idA]) }));
    expect(plan.identitiesToRemove).toEqual([]);
    expect(plan.deleteNow).toEqual([leftover]);
  });

  it('never removes preexisting or immutable identities, and deletes their AAIs at once', () => {
    const [gone] = desiredFor([{ name: 'p1', label: 'a' }]);
    const old = new Date(NOW - 60_000).toISOString();
    const preexisting = assignedFrom(gone!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: old, [PREEXISTING_ANNOTATION]: 'true' });
    expect(planTarget(input({ currentOnTarget: [preexisting], onTarget: new Set([idA]) }))).toMatchObject({ identitiesToRemove: [], deleteNow: [preexisting] });
    const owned = assignedFrom(gone!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: old });
    expect(planTarget(input({ currentOnTarget: [owned], onTarget: new Set([idA]), immutable: new Set(['a-client']) }))).toMatchObject({ identitiesToRemove: [], deleteNow: [owned] });
    expect(planTarget(input({ currentOnTarget: [owned], onTarget: new Set([idA]), immutable: new Set([idA]) })).identitiesToRemove).toEqual([]);
  });

  it('deletes leftover AAIs of identities already gone from the target, and of service principals, at once', () => {
    const [typeZero, sp] = desiredFor([{ name: 'p1', label: 'a' }, { name: 'p2', label: 'sp' }]);
    const old = new Date(NOW - 1000).toISOString();
    const leftovers = [assignedFrom(typeZero!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: old }), assignedFrom(sp!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: old })];
    const plan = planTarget(input({ currentOnTarget: leftovers }));
    expect(plan.deleteNow).toEqual(leftovers);
    expect(plan.identitiesToRemove).toEqual([]);
  });

  it('AAIs without state (written by releases before states existed) count as Assigned', () => {
    const [gone] = desiredFor([{ name: 'p1', label: 'a' }]);
    const legacy = assignedFrom(gone!, '');
    expect(planTarget(input({ currentOnTarget: [legacy], onTarget: new Set([idA]) })).toUnassign).toEqual([legacy]);
  });
});

describe('planTarget: federated identities (type 3)', () => {
  it('creates their AAIs with no identity to add, beside a type-0 identity that is added', () => {
    const desired = desiredFor([{ name: 'p1', label: 'fed' }, { name: 'p1', label: 'a' }, { name: 'p2', label: 'fed-a' }]);
    const plan = planTarget(input({ desiredOnTarget: desired }));
    expect(plan.writes.map((write) => write.desired.name).sort()).toEqual(['p1-default-a', 'p1-default-fed', 'p2-default-fed-a']);
    expect(plan.writes.every((write) => !write.preexisting)).toBe(true);
    expect(plan.identitiesToAdd).toEqual([idA]);
  });

  it('a federated identity naming a type-0 identity\'s resource ID neither keeps it on the target nor counts as its owner', () => {
    // p1's type-0 AAI for a is past its grace period; p2 still uses fed-a, which names a's resource ID.
    const [typeZero] = desiredFor([{ name: 'p1', label: 'a' }]);
    const stillDesired = desiredFor([{ name: 'p2', label: 'fed-a' }]);
    const leftover = assignedFrom(typeZero!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: new Date(NOW - GRACE - 1).toISOString() });
    const federated = assignedFrom(stillDesired[0]!, 'Assigned', { [PREEXISTING_ANNOTATION]: 'true' });
    const plan = planTarget(input({ desiredOnTarget: stillDesired, currentOnTarget: [leftover, federated], onTarget: new Set([idA]) }));
    expect(plan.identitiesToRemove).toEqual([idA]);
    expect(plan.deleteAfterRemoval).toEqual([leftover]);
    expect(plan.writes).toEqual([]);
  });

  it('deletes leftover federated AAIs at once, with no ARM change', () => {
    const [federated] = desiredFor([{ name: 'p1', label: 'fed-a' }]);
    const leftover = assignedFrom(federated!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: new Date(NOW - 1000).toISOString() });
    const plan = planTarget(input({ currentOnTarget: [leftover], onTarget: new Set([idA]) }));
    expect(plan.deleteNow).toEqual([leftover]);
    expect(plan.identitiesToRemove).toEqual([]);
    expect(plan.nextGraceDeadline).toBeUndefined();
  });
});

describe('planTarget: AAIs deleted by someone else', () => {
  it('releases a terminating AAI first and writes it again when still desired', () => {
    const desired = desiredFor([{ name: 'p1', label: 'a' }]);
    const terminating = { ...assignedFrom(desired[0]!, 'Assigned'), metadata: { ...assignedFrom(desired[0]!, 'Assigned').metadata, deletionTimestamp: new Date(NOW) } };
    const plan = planTarget(input({ desiredOnTarget: desired, currentOnTarget: [terminating], onTarget: new Set([idA]) }));
    expect(plan.releaseFirst).toEqual([terminating]);
    expect(plan.writes.map((write) => [write.desired.name, write.current])).toEqual([['p1-default-a', undefined]]);
  });
});
