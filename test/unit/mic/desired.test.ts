import { describe, expect, it } from 'vitest';
import type { AzureIdentity, AzureIdentityBinding } from '../../../src/api/index.ts';
import { computeDesiredState } from '../../../src/mic/desired.ts';
import { objectKey, type ClusterSnapshot, type PodInfo } from '../../../src/mic/model.ts';
import { binding, identity, identityId, pod, vmssNode } from '../../support/mic-fixtures.ts';

function snapshot(pods: PodInfo[], identities: AzureIdentity[], bindings: AzureIdentityBinding[]): ClusterSnapshot {
  return {
    pods,
    nodes: new Map([['node-0', vmssNode('node-0')]]),
    identities: new Map(identities.map((entry) => [objectKey(entry.metadata.namespace ?? '', entry.metadata.name ?? ''), entry])),
    bindings,
    assigned: new Map(),
  };
}

const policy = { forceNamespaced: false };

describe('computeDesiredState', () => {
  it('matches the label to binding selectors by exact string and names the AAI as upstream', () => {
    const state = computeDesiredState(
      snapshot([pod('demo', { label: 'reader' }), pod('other', { label: 'Reader' })], [identity('storage')], [binding('b', 'storage', 'reader')]),
      policy,
    );
    expect([...state.assignments.keys()]).toEqual(['default/demo-default-storage']);
    const assignment = state.assignments.get('default/demo-default-storage')!;
    expect(assignment).toMatchObject({ podName: 'demo', podNamespace: 'default', nodeName: 'node-0', namespace: 'default' });
    expect(assignment.resourceIdKey).toBe(assignment.identity.spec.resourceID?.toLowerCase());
  });

  it.each([
    ['not scheduled', pod('p', { label: 'reader', node: '' })],
    ['no label', pod('p')],
    ['empty label', pod('p', { label: '' })],
    ['Succeeded', pod('p', { label: 'reader', phase: 'Succeeded' })],
    ['Failed', pod('p', { label: 'reader', phase: 'Failed' })],
  ])('a pod that is %s needs no identity', (_case, candidate) => {
    const state = computeDesiredState(snapshot([candidate], [identity('storage')], [binding('b', 'storage', 'reader')]), policy);
    expect(state.assignments.size).toBe(0);
  });

  it('keeps Pending pods (their containers may start any moment)', () => {
    const state = computeDesiredState(snapshot([pod('p', { label: 'reader', phase: 'Pending' })], [identity('storage')], [binding('b', 'storage', 'reader')]), policy);
    expect(state.assignments.size).toBe(1);
  });

  it('looks the identity up in the binding namespace, and reports a missing one', () => {
    const state = computeDesiredState(
      snapshot([pod('p', { label: 'reader', namespace: 'apps' })], [identity('storage', { namespace: 'default' })], [binding('b', 'storage', 'reader', 'apps')]),
      policy,
    );
    expect(state.assignments.size).toBe(0);
    expect(state.problems).toMatchObject([{ kind: 'identity-not-found', podName: 'p', binding: { namespace: 'apps', name: 'b' } }]);
  });

  it('cross-namespace use works unless the identity is namespaced (annotation or forced)', () => {
    const pods = [pod('p', { label: 'reader', namespace: 'apps' })];
    const open = computeDesiredState(snapshot(pods, [identity('storage')], [binding('b', 'storage', 'reader')]), policy);
    expect([...open.assignments.keys()]).toEqual(['default/p-apps-storage']);

    const annotated = computeDesiredState(snapshot(pods, [identity('storage', { namespaced: true })], [binding('b', 'storage', 'reader')]), policy);
    expect(annotated.assignments.size).toBe(0);
    expect(annotated.problems[0]?.kind).toBe('namespace-mismatch');

    const forced = computeDesiredState(snapshot(pods, [identity('storage')], [binding('b', 'storage', 'reader')]), { forceNamespaced: true });
    expect(forced.assignments.size).toBe(0);
  });

  it('puts namespaced AAIs in the identity namespace', () => {
    const state = computeDesiredState(
      snapshot([pod('p', { label: 'w', namespace: 'team-a' })], [identity('writer', { namespace: 'team-a', namespaced: true })], [binding('b', 'writer', 'w', 'team-a')]),
      policy,
    );
    expect([...state.assignments.keys()]).toEqual(['team-a/p-team-a-writer']);
  });

  it('skips type-0 identities without a valid resource ID and reports it', () => {
    const state = computeDesiredState(snapshot([pod('p', { label: 'r' })], [identity('bad', { resourceID: '/subscriptions/x/vm' })], [binding('b', 'bad', 'r')]), policy);
    expect(state.assignments.size).toBe(0);
    expect(state.problems[0]?.kind).toBe('invalid-resource-id');
  });

  it('service-principal identities get AAIs but nothing to put on the VM', () => {
    const state = computeDesiredState(snapshot([pod('p', { label: 'sp' })], [identity('sp', { type: 1 })], [binding('b', 'sp', 'sp')]), policy);
    expect(state.assignments.get('default/p-default-sp')?.resourceIdKey).toBeUndefined();
  });

  it('federated identities (type 3) get AAIs with nothing to put on the VM, whatever resourceID they name', () => {
    const identities = [
      identity('fed', { type: 3 }),
      identity('fed-named', { type: 3, resourceID: identityId('fed-named') }),
      identity('fed-odd', { type: 3, resourceID: '/subscriptions/x/vm' }),
    ];
    const bindings = identities.map((entry) => binding(`${entry.metadata.name ?? ''}-b`, entry.metadata.name ?? '', 'fed'));
    const state = computeDesiredState(snapshot([pod('p', { label: 'fed' })], identities, bindings), policy);
    expect([...state.assignments.keys()].sort()).toEqual(['default/p-default-fed', 'default/p-default-fed-named', 'default/p-default-fed-odd']);
    expect([...state.assignments.values()].map((entry) => entry.resourceIdKey)).toEqual([undefined, undefined, undefined]);
    // The resource ID is not read for them (the CRD checks its format): no invalid-resource-id problem.
    expect(state.problems).toEqual([]);
  });

  it('on a name collision the first binding in (namespace, name) order wins, deterministically', () => {
    const pods = [pod('p', { label: 'x', namespace: 'apps' })];
    const identities = [identity('same', { namespace: 'a-ns' }), identity('same', { namespace: 'b-ns' })];
    const bindings = [binding('b2', 'same', 'x', 'b-ns'), binding('b1', 'same', 'x', 'a-ns')];
    for (const order of [bindings, [...bindings].reverse()]) {
      const state = computeDesiredState(snapshot(pods, identities, order), policy);
      expect(state.assignments.get('default/p-apps-same')?.identity.metadata.namespace).toBe('a-ns');
      expect(state.problems.map((problem) => problem.kind)).toEqual(['duplicate-name']);
    }
  });

  it('gives a pod every identity its label binds', () => {
    const state = computeDesiredState(
      snapshot([pod('p', { label: 'x' })], [identity('one'), identity('two')], [binding('b1', 'one', 'x'), binding('b2', 'two', 'x')]),
      policy,
    );
    expect([...state.assignments.keys()].sort()).toEqual(['default/p-default-one', 'default/p-default-two']);
  });
});
