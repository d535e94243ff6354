import { describe, expect, it } from 'vitest';
import {
  AssignedIdentityState,
  assignedIdentityName,
  assignedIdentityNamespace,
  effectiveAssignedState,
  InvalidResourceError,
  isAssignedIdentityState,
  readAzureAssignedIdentity,
  readAzureIdentity,
} from '../../../src/api/index.ts';

const identityRef = {
  apiVersion: 'aadpodidentity.k8s.io/v1',
  kind: 'AzureIdentity',
  metadata: { name: 'storage-reader', namespace: 'default', creationTimestamp: '2023-10-02T10:00:00Z' },
  spec: { metadata: { creationTimestamp: null }, type: 0, resourceID: '/r', clientID: 'c', clientPassword: {}, replicas: null },
};
const bindingRef = {
  apiVersion: 'aadpodidentity.k8s.io/v1',
  kind: 'AzureIdentityBinding',
  metadata: { name: 'binding', namespace: 'default' },
  spec: { azureIdentity: 'storage-reader', selector: 'sel', weight: 0 },
};

function assigned(spec: Record<string, unknown>, status?: Record<string, unknown>): unknown {
  return {
    apiVersion: 'aadpodidentity.k8s.io/v1',
    kind: 'AzureAssignedIdentity',
    metadata: {
      name: 'demo-default-storage-reader',
      namespace: 'default',
      labels: { nodename: 'node-1' },
      finalizers: ['azureassignedidentity.finalizers.aadpodidentity.k8s.io'],
    },
    spec,
    ...(status === undefined ? {} : { status }),
  };
}

describe('readAzureAssignedIdentity', () => {
  it('reads an AAI as upstream MIC writes it, normalising the embedded objects', () => {
    const read = readAzureAssignedIdentity(
      assigned(
        { azureIdentityRef: identityRef, azureBindingRef: bindingRef, pod: 'demo', podNamespace: 'default', nodename: 'node-1', replicas: null },
        { status: 'Assigned', availableReplicas: 1, metadata: { creationTimestamp: null } },
      ),
    );
    expect(read.spec.azureIdentityRef).toEqual(readAzureIdentity(identityRef));
    expect(read.spec.azureIdentityRef?.spec).toEqual({ type: 0, resourceID: '/r', clientID: 'c', clientPassword: {} });
    expect(read.spec.azureBindingRef?.spec).toEqual({ azureIdentity: 'storage-reader', selector: 'sel', weight: 0 });
    expect(read.spec).toMatchObject({ pod: 'demo', podNamespace: 'default', nodename: 'node-1' });
    expect(read.status).toEqual({ status: 'Assigned', availableReplicas: 1 });
    expect(read.metadata.labels).toEqual({ nodename: 'node-1' });
  });

  it('reads the pre-v1.6 lower-case field names', () => {
    const read = readAzureAssignedIdentity(
      assigned({ azureidentityref: identityRef, azurebindingref: bindingRef, pod: 'demo', podnamespace: 'default', NodeName: 'node-1' }),
    );
    expect(read.spec.azureIdentityRef?.metadata.name).toBe('storage-reader');
    expect(read.spec.azureBindingRef?.metadata.name).toBe('binding');
    expect(read.spec).toMatchObject({ podNamespace: 'default', nodename: 'node-1' });
  });

  it('tolerates missing refs and strings', () => {
    expect(readAzureAssignedIdentity(assigned({})).spec).toEqual({ pod: '', podNamespace: '', nodename: '' });
  });

  it.each([['Created'], ['Assigned'], ['Unassigned'], ['']])('accepts status %j', (status) => {
    expect(readAzureAssignedIdentity(assigned({}, { status })).status?.status).toBe(status);
  });

  it('rejects an unknown state, naming the field', () => {
    expect(() => readAzureAssignedIdentity(assigned({}, { status: 'assigned' }))).toThrow(
      'AzureAssignedIdentity default/demo-default-storage-reader: status.status: must be Created, Assigned or Unassigned (or empty in old objects), got "assigned"',
    );
  });

  it('names the AAI and the path into the embedded identity in errors', () => {
    let caught: unknown;
    try {
      readAzureAssignedIdentity(assigned({ azureIdentityRef: { ...identityRef, spec: { type: 7 } } }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidResourceError);
    const error = caught as InvalidResourceError;
    expect(error.object).toEqual({ kind: 'AzureAssignedIdentity', namespace: 'default', name: 'demo-default-storage-reader' });
    expect(error.field).toBe('spec.azureIdentityRef.spec.type');
  });

  it('rejects an embedded object of the wrong kind', () => {
    expect(() => readAzureAssignedIdentity(assigned({ azureBindingRef: identityRef }))).toThrow(
      /spec\.azureBindingRef\.kind: must be AzureIdentityBinding/,
    );
  });
});

describe('assigned identity states', () => {
  it('treats an empty or missing state as Assigned (objects from before states existed)', () => {
    expect(effectiveAssignedState('')).toBe(AssignedIdentityState.Assigned);
    expect(effectiveAssignedState(undefined)).toBe(AssignedIdentityState.Assigned);
    expect(effectiveAssignedState('Created')).toBe('Created');
    expect(effectiveAssignedState('Unassigned')).toBe('Unassigned');
  });

  it('knows exactly the three states', () => {
    expect(['Created', 'Assigned', 'Unassigned', '', 'assigned'].map(isAssignedIdentityState)).toEqual([true, true, true, false, false]);
  });
});

describe('AAI naming', () => {
  it('concatenates pod, pod namespace and identity with "-", without hashing or truncating', () => {
    expect(assignedIdentityName({ podName: 'demo', podNamespace: 'default', identityName: 'storage-reader' })).toBe(
      'demo-default-storage-reader',
    );
    const long = 'p'.repeat(200);
    expect(assignedIdentityName({ podName: long, podNamespace: 'ns', identityName: 'id' })).toBe(`${long}-ns-id`);
  });

  const identityIn = (namespace: string | undefined, annotations?: Record<string, string>) =>
    readAzureIdentity({ metadata: { name: 'id', ...(namespace === undefined ? {} : { namespace }), ...(annotations ? { annotations } : {}) } });

  it.each([
    ['not namespaced', identityIn('team-a'), false, 'default'],
    ['forced namespaced', identityIn('team-a'), true, 'team-a'],
    ['annotated namespaced', identityIn('team-a', { 'aadpodidentity.k8s.io/Behavior': 'namespaced' }), false, 'team-a'],
    ['namespaced but namespace unknown', identityIn(undefined), true, 'default'],
  ])('namespace when %s', (_label, identity, force, expected) => {
    expect(assignedIdentityNamespace(identity, force)).toBe(expected);
  });
});
