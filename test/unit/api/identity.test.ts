import { describe, expect, it } from 'vitest';
import {
  InvalidResourceError,
  isNamespacedIdentity,
  readAzureIdentity,
  type AzureIdentity,
} from '../../../src/api/index.ts';

const RESOURCE_ID =
  '/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id';

function identity(spec: unknown, metadata: Record<string, unknown> = { name: 'id', namespace: 'team-a' }): unknown {
  return { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata, spec };
}

/** The InvalidResourceError `read` throws. */
function errorOf(read: () => unknown): InvalidResourceError {
  try {
    read();
  } catch (error) {
    if (error instanceof InvalidResourceError) return error;
    throw error;
  }
  throw new Error('expected an InvalidResourceError');
}

describe('readAzureIdentity: legacy spellings', () => {
  it.each([
    ['pre-v1.6 lower-case tags', { resourceid: RESOURCE_ID, clientid: 'c', tenantid: 't', clientpassword: { name: 's' } }],
    ['PascalCase', { ResourceID: RESOURCE_ID, ClientID: 'c', TenantID: 't', ClientPassword: { Name: 's' } }],
    ['Id instead of ID', { ResourceId: RESOURCE_ID, ClientId: 'c', TenantId: 't', ClientPassword: { name: 's' } }],
    ['camelCase Id', { resourceId: RESOURCE_ID, clientId: 'c', tenantId: 't', clientPassword: { NAME: 's' } }],
    ['any casing at all', { RESOURCEID: RESOURCE_ID, cLiEnTiD: 'c', TENANTID: 't', CLIENTPASSWORD: { nAmE: 's' } }],
  ])('%s map to the current names', (_label, spec) => {
    expect(readAzureIdentity(identity(spec)).spec).toEqual({
      type: 0,
      resourceID: RESOURCE_ID,
      clientID: 'c',
      tenantID: 't',
      clientPassword: { name: 's' },
    });
  });

  it('maps TenantId and ClientPassword: {Name, Namespace} (the legacy example)', () => {
    const read = readAzureIdentity(
      identity({ type: 1, TenantId: 'tenant', ClientID: 'client', ClientPassword: { Name: 'secret', Namespace: 'default' } }),
    );
    expect(read.spec).toEqual({
      type: 1,
      tenantID: 'tenant',
      clientID: 'client',
      clientPassword: { name: 'secret', namespace: 'default' },
    });
  });

  it('maps the remaining fields in any casing', () => {
    const read = readAzureIdentity(
      identity({ Type: 1, AuxiliaryTenantIDs: ['a', 'b'], ADResourceID: 'r', ADEndpoint: 'https://login/', Replicas: 2 }),
    );
    expect(read.spec).toEqual({ type: 1, auxiliaryTenantIDs: ['a', 'b'], adResourceID: 'r', adEndpoint: 'https://login/', replicas: 2 });
  });
});

describe('readAzureIdentity: federated identities (type 3)', () => {
  it.each([
    ['current names', { type: 3, clientID: 'c', tenantID: 't' }],
    ['PascalCase', { Type: 3, ClientID: 'c', TenantID: 't' }],
    ['numeric string', { type: '3', clientId: 'c', tenantid: 't' }],
  ])('read in %s, with no Secret or resourceID', (_label, spec) => {
    expect(readAzureIdentity(identity(spec)).spec).toEqual({ type: 3, clientID: 'c', tenantID: 't' });
  });

  it('keep an optional resourceID and adEndpoint', () => {
    const spec = { type: 3, clientID: 'c', tenantID: 't', resourceID: RESOURCE_ID, adEndpoint: 'https://login.example/' };
    expect(readAzureIdentity(identity(spec)).spec).toEqual(spec);
  });
});

describe('readAzureIdentity: precedence', () => {
  it('lets the current name win over any older spelling, whatever the key order', () => {
    expect(readAzureIdentity(identity({ ClientID: 'old', clientID: 'new', clientid: 'older' })).spec.clientID).toBe('new');
    expect(readAzureIdentity(identity({ clientID: 'new', ClientID: 'old' })).spec.clientID).toBe('new');
  });

  it('lets the current name win inside clientPassword too', () => {
    expect(readAzureIdentity(identity({ clientPassword: { Name: 'old', name: 'new' } })).spec.clientPassword).toEqual({ name: 'new' });
  });

  it('keeps the current clientPassword whole rather than merging an older one into it', () => {
    const read = readAzureIdentity(identity({ clientPassword: { namespace: 'ns' }, ClientPassword: { Name: 'old' } }));
    expect(read.spec.clientPassword).toEqual({ namespace: 'ns' });
  });

  it('among older spellings, takes the one upstream would (last in sorted key order)', () => {
    // Sorted: ClientID < ClientId < clientid; upstream's decoder kept the last one it saw.
    expect(readAzureIdentity(identity({ clientid: 'c', ClientID: 'a', ClientId: 'b' })).spec.clientID).toBe('c');
    expect(readAzureIdentity(identity({ ClientID: 'a', ClientId: 'b' })).spec.clientID).toBe('b');
  });

  it('ignores null values, as Go did, so an older spelling can still supply the field', () => {
    expect(readAzureIdentity(identity({ clientID: null, ClientID: 'old' })).spec.clientID).toBe('old');
    expect(readAzureIdentity(identity({ type: null, replicas: null })).spec).toEqual({ type: 0 });
  });
});

describe('readAzureIdentity: defaults and tolerance', () => {
  it('defaults an omitted type, and an omitted spec, to type 0', () => {
    expect(readAzureIdentity(identity({})).spec).toEqual({ type: 0 });
    expect(readAzureIdentity({ kind: 'AzureIdentity', metadata: { name: 'x' } }).spec).toEqual({ type: 0 });
  });

  it.each([
    ['"1"', '1', 1],
    ['" 2 "', ' 2 ', 2],
    ['"0"', '0', 0],
    ['"3"', '3', 3],
  ])('accepts type given as the numeric string %s', (_label, type, expected) => {
    expect(readAzureIdentity(identity({ type })).spec.type).toBe(expected);
  });

  it('sets apiVersion and kind even when the raw object omits them', () => {
    const read = readAzureIdentity({ metadata: { name: 'x' }, spec: {} });
    expect(read.apiVersion).toBe('aadpodidentity.k8s.io/v1');
    expect(read.kind).toBe('AzureIdentity');
  });

  it('drops unknown spec fields, including the upstream spec.metadata quirk', () => {
    const read = readAzureIdentity(identity({ metadata: { creationTimestamp: null }, clientID: 'c', unknown: 1 }));
    expect(read.spec).toEqual({ type: 0, clientID: 'c' });
  });

  it('keeps metadata as received, with timestamps as Date', () => {
    const read = readAzureIdentity(
      identity({}, { name: 'x', namespace: 'ns', resourceVersion: '7', creationTimestamp: '2023-10-02T10:00:00Z', deletionTimestamp: null }),
    );
    expect(read.metadata).toEqual({ name: 'x', namespace: 'ns', resourceVersion: '7', creationTimestamp: new Date('2023-10-02T10:00:00Z') });
  });

  it('reads status.availableReplicas', () => {
    const raw = { ...(identity({}) as object), status: { availableReplicas: 1, metadata: {} } };
    expect(readAzureIdentity(raw).status).toEqual({ availableReplicas: 1 });
  });
});

describe('readAzureIdentity: errors name the object and the field', () => {
  it.each([
    [
      'type out of range',
      { type: 4 },
      'spec.type',
      'must be 0 (user-assigned managed identity), 1 (service principal with client secret), 2 (service principal with certificate) or 3 (federated identity), got 4',
    ],
    ['negative type string', { Type: '-1' }, 'spec.Type', 'got -1'],
    ['non-numeric type string', { type: 'one' }, 'spec.type', 'must be an integer, got "one"'],
    ['fractional type', { type: 1.5 }, 'spec.type', 'must be an integer, got 1.5'],
    ['boolean type', { type: true }, 'spec.type', 'must be an integer, got true'],
    ['number as clientID', { ClientID: 42 }, 'spec.ClientID', 'must be a string, got a number'],
    ['string as clientPassword', { clientPassword: 'secret' }, 'spec.clientPassword', 'must be an object, got a string'],
    ['number as secret name', { ClientPassword: { Name: 1 } }, 'spec.ClientPassword.Name', 'must be a string, got a number'],
    ['string as auxiliaryTenantIDs', { auxiliaryTenantIDs: 'a' }, 'spec.auxiliaryTenantIDs', 'must be a list of strings, got a string'],
    ['number in auxiliaryTenantIDs', { auxiliaryTenantIDs: ['a', 2] }, 'spec.auxiliaryTenantIDs[1]', 'must be a string, got a number'],
    ['list as spec', [], 'spec', 'must be an object, got a list'],
  ])('%s', (_label, spec, field, problem) => {
    const error = errorOf(() => readAzureIdentity(identity(spec)));
    expect(error.code).toBe('PI_INVALID_RESOURCE');
    expect(error.object).toEqual({ kind: 'AzureIdentity', namespace: 'team-a', name: 'id' });
    expect(error.field).toBe(field);
    expect(error.problem).toContain(problem);
    expect(error.message).toBe(`AzureIdentity team-a/id: ${field}: ${error.problem}`);
  });

  it.each([
    ['not an object', 'x', '', 'must be a JSON object, got a string'],
    ['wrong kind', { kind: 'AzureIdentityBinding', metadata: { name: 'id', namespace: 'team-a' } }, 'kind', 'must be AzureIdentity'],
    ['label value not a string', { metadata: { name: 'id', namespace: 'team-a', labels: { a: 1 } } }, 'metadata.labels.a', 'must be a string'],
    ['annotations not a map', { metadata: { name: 'id', namespace: 'team-a', annotations: [] } }, 'metadata.annotations', 'must be an object'],
    ['bad timestamp', { metadata: { name: 'id', namespace: 'team-a', creationTimestamp: 'yesterday' } }, 'metadata.creationTimestamp', 'RFC 3339'],
    ['finalizers not strings', { metadata: { name: 'id', namespace: 'team-a', finalizers: [1] } }, 'metadata.finalizers', 'list of strings'],
  ])('%s', (_label, raw, field, problem) => {
    const error = errorOf(() => readAzureIdentity(raw));
    expect(error.field).toBe(field);
    expect(error.problem).toContain(problem);
  });

  it('names an unnamed object as such', () => {
    expect(errorOf(() => readAzureIdentity({ spec: { type: 9 } })).message).toMatch(/^AzureIdentity \(unnamed\): spec\.type: /);
  });
});

describe('isNamespacedIdentity', () => {
  const withAnnotations = (annotations?: Record<string, string>): AzureIdentity =>
    readAzureIdentity(identity({}, annotations === undefined ? { name: 'x' } : { name: 'x', annotations }));

  it.each([
    ['no annotation, not forced', undefined, false, false],
    ['no annotation, forced', undefined, true, true],
    ['annotated namespaced', { 'aadpodidentity.k8s.io/Behavior': 'namespaced' }, false, true],
    ['value compared exactly', { 'aadpodidentity.k8s.io/Behavior': 'Namespaced' }, false, false],
    ['key compared exactly (capital B)', { 'aadpodidentity.k8s.io/behavior': 'namespaced' }, false, false],
    ['other value but forced', { 'aadpodidentity.k8s.io/Behavior': 'global' }, true, true],
  ])('%s', (_label, annotations, force, expected) => {
    expect(isNamespacedIdentity(withAnnotations(annotations), force)).toBe(expected);
  });
});
