import { describe, expect, it } from 'vitest';
import type { AzurePodIdentityException } from '../../../../src/api/index.ts';
import { computeDesiredState } from '../../../../src/mic/desired.ts';
import { objectKey } from '../../../../src/mic/model.ts';
import {
  isExcepted,
  managedModeSelection,
  MULTIPLE_IDENTITIES,
  standardModeAttempt,
  type CallingPod,
} from '../../../../src/nmi/identity/select-identity.ts';
import { redactClientId } from '../../../../src/nmi/identity/redact-client-id.ts';
import { assignedFrom, binding, identity, identityId, pod, vmssNode } from '../../../support/mic-fixtures.ts';

const options = { forceNamespaced: false, retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, retryIntervalSeconds: 5 };
const caller: CallingPod = { namespace: 'default', name: 'app', labels: { aadpodidbinding: 'x' } };

/** AAIs (in `state`) for pod `app` bound to the given identities. */
function aais(state: 'Created' | 'Assigned' | 'Unassigned' | '', names: string[], namespaced = false) {
  const desired = computeDesiredState(
    {
      pods: [pod('app', { label: 'x' })],
      nodes: new Map([['node-0', vmssNode('node-0')]]),
      identities: new Map(names.map((name) => [objectKey('default', name), identity(name, { namespaced })])),
      bindings: names.map((name) => binding(`b-${name}`, name, 'x')),
      assigned: new Map(),
    },
    { forceNamespaced: false },
  );
  return [...desired.assignments.values()].map((entry) => assignedFrom(entry, state));
}

describe('standardModeAttempt', () => {
  it('uses the single Assigned identity when none is named', () => {
    const selection = standardModeAttempt(caller, aais('Assigned', ['a']), undefined, 0, options);
    expect(selection).toMatchObject({ kind: 'identity', identity: { metadata: { name: 'a' } } });
  });

  it('treats AAIs without state (older MICs) as Assigned', () => {
    expect(standardModeAttempt(caller, aais('', ['a']), undefined, 0, options).kind).toBe('identity');
  });

  it("answers IMDS's own error when several identities exist and none is named — never a random pick", () => {
    expect(standardModeAttempt(caller, aais('Assigned', ['a', 'b']), undefined, 0, options)).toMatchObject({ kind: 'refuse', status: 400, description: MULTIPLE_IDENTITIES });
  });

  it('selects by client ID or resource ID, case-insensitively', () => {
    const both = aais('Assigned', ['a', 'b']);
    expect(standardModeAttempt(caller, both, { kind: 'client_id', value: 'B-CLIENT' }, 0, options)).toMatchObject({ kind: 'identity', identity: { metadata: { name: 'b' } } });
    expect(standardModeAttempt(caller, both, { kind: 'resource_id', value: identityId('a').toUpperCase() }, 0, options)).toMatchObject({
      kind: 'identity',
      identity: { metadata: { name: 'a' } },
    });
  });

  it('an AAI of an earlier pod with the same name serves only a pod its binding still selects (name reuse)', () => {
    const stale = aais('Assigned', ['a']);
    const labelSets: Record<string, string>[] = [{}, { aadpodidbinding: 'other' }, { aadpodidbinding: '' }];
    for (const labels of labelSets) {
      const newcomer: CallingPod = { ...caller, labels };
      expect(standardModeAttempt(newcomer, stale, undefined, 0, options).kind).toBe('wait');
      expect(standardModeAttempt(newcomer, stale, { kind: 'client_id', value: 'a-client' }, 19, options)).toMatchObject({ kind: 'refuse', status: 404 });
    }
    // Same label: the binding selects the new pod too, so it is bound.
    expect(standardModeAttempt({ ...caller, labels: { aadpodidbinding: 'x' } }, stale, undefined, 0, options).kind).toBe('identity');
  });

  it('an identity the pod is not bound to is never served, whatever is assigned', () => {
    const selection = standardModeAttempt(caller, aais('Assigned', ['a']), { kind: 'client_id', value: 'someone-elses-client' }, 0, options);
    expect(selection.kind).toBe('wait');
    const last = standardModeAttempt(caller, aais('Assigned', ['a']), { kind: 'client_id', value: 'someone-elses-client' }, 19, options);
    expect(last).toMatchObject({ kind: 'refuse', status: 404 });
    expect(JSON.stringify(last)).not.toContain('someone-elses-client');
  });

  it("ignores other pods' AAIs", () => {
    const others = aais('Assigned', ['a']).map((entry) => ({ ...entry, spec: { ...entry.spec, pod: 'other' } }));
    expect(standardModeAttempt(caller, others, undefined, 0, options).kind).toBe('wait');
  });

  it("waits while Created, then gives up with upstream's messages and attempt counts", () => {
    expect(standardModeAttempt(caller, aais('Created', ['a']), undefined, 0, options)).toMatchObject({ kind: 'wait' });
    // Attempt k follows k waits; upstream gives up after 20 (Created) and 16 (no AAI) waits of 5 s.
    expect(standardModeAttempt(caller, aais('Created', ['a']), undefined, 19, options)).toMatchObject({ kind: 'wait' });
    expect(standardModeAttempt(caller, aais('Created', ['a']), undefined, 20, options)).toMatchObject({
      kind: 'refuse',
      description: expect.stringContaining('in ASSIGNED state failed after 20 attempts') as unknown,
    });
    expect(standardModeAttempt(caller, [], undefined, 15, options).kind).toBe('wait');
    expect(standardModeAttempt(caller, [], undefined, 16, options)).toMatchObject({
      kind: 'refuse',
      description: expect.stringContaining('in CREATED state failed after 16 attempts') as unknown,
    });
  });

  it('Unassigned AAIs are never served', () => {
    expect(standardModeAttempt(caller, aais('Unassigned', ['a']), undefined, 0, options).kind).toBe('wait');
  });

  it('a namespaced identity serves only pods of its namespace (no crash on an empty result)', () => {
    const namespaced = aais('Assigned', ['a'], true).map((entry) => ({ ...entry, spec: { ...entry.spec, podNamespace: 'other' } }));
    const stranger: CallingPod = { ...caller, namespace: 'other' };
    expect(standardModeAttempt(stranger, namespaced, undefined, 0, options)).toMatchObject({ kind: 'refuse', status: 404 });
  });

  it('object_id is resolved by IMDS among the pod\'s own identities only', () => {
    expect(standardModeAttempt(caller, aais('Assigned', ['a', 'b']), { kind: 'object_id', value: 'oid' }, 0, options)).toMatchObject({
      kind: 'by-object-id',
      objectId: 'oid',
      candidates: [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }],
    });
  });
});

describe('managedModeSelection', () => {
  const identities = [identity('a'), identity('b', { namespace: 'other' })];
  const bindings = [binding('ba', 'a', 'x'), binding('bb', 'b', 'x', 'other')];

  it('uses bindings and identities of the pod namespace only', () => {
    expect(managedModeSelection(caller, bindings, identities, undefined)).toMatchObject({ kind: 'identity', identity: { metadata: { name: 'a' } } });
    expect(managedModeSelection(caller, bindings, identities, { kind: 'client_id', value: 'b-client' })).toMatchObject({ kind: 'refuse', status: 404 });
  });

  it('refuses a pod without the label', () => {
    expect(managedModeSelection({ ...caller, labels: {} }, bindings, identities, undefined)).toMatchObject({ kind: 'refuse' });
  });

  it('while settling, waits instead of refusing when no identity is found, and only then', () => {
    expect(managedModeSelection(caller, [], [], undefined, true)).toMatchObject({ kind: 'wait', reason: expect.stringContaining('no azure identity found') as string });
    expect(managedModeSelection(caller, bindings, identities, { kind: 'client_id', value: 'b-client' }, true)).toMatchObject({ kind: 'wait' });
    expect(managedModeSelection(caller, bindings, identities, undefined, true)).toMatchObject({ kind: 'identity' });
    expect(managedModeSelection({ ...caller, labels: {} }, bindings, identities, undefined, true)).toMatchObject({ kind: 'refuse' });
  });
});

describe('isExcepted', () => {
  const exception = (namespace: string, podLabels: Record<string, string>): AzurePodIdentityException => ({
    apiVersion: 'aadpodidentity.k8s.io/v1',
    kind: 'AzurePodIdentityException',
    metadata: { name: 'e', namespace },
    spec: { podLabels },
  });

  it('any one label pair of an exception in the pod namespace, value case-insensitive', () => {
    const pod: CallingPod = { namespace: 'kube-system', name: 'addon', labels: { 'kubernetes.azure.com/managedby': 'AKS', app: 'x' } };
    expect(isExcepted(pod, [exception('kube-system', { 'kubernetes.azure.com/managedby': 'aks', other: 'nope' })])).toBe(true);
    expect(isExcepted(pod, [exception('default', { 'kubernetes.azure.com/managedby': 'aks' })])).toBe(false);
    expect(isExcepted(pod, [exception('kube-system', { App: 'x' })])).toBe(false);
  });
});

describe('redactClientId', () => {
  it('keeps the first and last four characters, as upstream', () => {
    expect(redactClientId('11111111-2222-3333-4444-555555555555')).toBe('1111##### REDACTED #####5555');
    expect(redactClientId('short')).toBe('##### REDACTED #####');
  });
});
