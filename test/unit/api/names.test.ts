import { describe, expect, it } from 'vitest';
import {
  ALL_RESOURCE_NAMES,
  API_VERSION,
  ASSIGNED_IDENTITY_FINALIZER,
  BEHAVIOR_ANNOTATION,
  BEHAVIOR_NAMESPACED,
  BINDING_LABEL,
  crdName,
  EVENT_SOURCE_COMPONENT,
  EventReason,
  describeIdentityTypes,
  FEDERATED_TOKEN_AUDIENCE,
  IDENTITY_READY_CONDITION,
  IDENTITY_TYPES,
  IdentityType,
  isFederatedType,
  isIdentityType,
  isServicePrincipalType,
  needsNodeAssignment,
  NODE_NAME_LABEL,
} from '../../../src/api/index.ts';

// These strings are wire contracts with aad-pod-identity; a change here breaks interoperability.
describe('wire names', () => {
  it('match upstream exactly', () => {
    expect(API_VERSION).toBe('aadpodidentity.k8s.io/v1');
    expect(ALL_RESOURCE_NAMES.map(crdName)).toEqual([
      'azureidentities.aadpodidentity.k8s.io',
      'azureidentitybindings.aadpodidentity.k8s.io',
      'azureassignedidentities.aadpodidentity.k8s.io',
      'azurepodidentityexceptions.aadpodidentity.k8s.io',
    ]);
    expect(ALL_RESOURCE_NAMES.map((names) => [names.kind, names.listKind, names.singular])).toEqual([
      ['AzureIdentity', 'AzureIdentityList', 'azureidentity'],
      ['AzureIdentityBinding', 'AzureIdentityBindingList', 'azureidentitybinding'],
      ['AzureAssignedIdentity', 'AzureAssignedIdentityList', 'azureassignedidentity'],
      ['AzurePodIdentityException', 'AzurePodIdentityExceptionList', 'azurepodidentityexception'],
    ]);
    expect([BINDING_LABEL, NODE_NAME_LABEL, ASSIGNED_IDENTITY_FINALIZER, BEHAVIOR_ANNOTATION, BEHAVIOR_NAMESPACED]).toEqual([
      'aadpodidbinding',
      'nodename',
      'azureassignedidentity.finalizers.aadpodidentity.k8s.io',
      'aadpodidentity.k8s.io/Behavior',
      'namespaced',
    ]);
    expect(IDENTITY_READY_CONDITION).toBe('aadpodidentity.k8s.io/identity-ready');
    expect(EVENT_SOURCE_COMPONENT).toBe('aadpodidentity.k8s.io');
    expect(Object.values(EventReason)).toEqual([
      'binding applied',
      'binding apply error',
      'binding removed',
      'binding remove error',
      'status update error',
    ]);
  });

  it('short names avoid the built-in ones', () => {
    const builtIn = ['cs', 'cm', 'ds', 'deploy', 'ep', 'ev', 'hpa', 'ing', 'limits', 'ns', 'no', 'pvc', 'pv', 'po', 'pdb', 'rs', 'rc', 'quota', 'sa', 'svc', 'crd', 'crds', 'csr', 'netpol', 'pc', 'sc', 'sts', 'cj', 'ingclass'];
    for (const names of ALL_RESOURCE_NAMES) for (const short of names.shortNames) expect(builtIn).not.toContain(short);
  });
});

describe('identity types', () => {
  const ALL = [IdentityType.UserAssignedMSI, IdentityType.ServicePrincipal, IdentityType.ServicePrincipalCertificate, IdentityType.FederatedIdentity];

  it('are 0, 1, 2 and 3', () => {
    expect(IDENTITY_TYPES).toEqual([0, 1, 2, 3]);
    expect(ALL).toEqual([0, 1, 2, 3]);
    expect([0, 1, 2, 3, 4, -1, '1', '3', null].map(isIdentityType)).toEqual([true, true, true, true, false, false, false, false, false]);
  });

  it('only 1 and 2 are service principals (they need a Secret)', () => {
    expect(ALL.map(isServicePrincipalType)).toEqual([false, true, true, false]);
  });

  it('only 3 is federated', () => {
    expect(ALL.map(isFederatedType)).toEqual([false, false, false, true]);
  });

  it('only 0 is assigned to nodes through ARM', () => {
    expect(ALL.map(needsNodeAssignment)).toEqual([true, false, false, false]);
  });

  it('are described in order for messages', () => {
    expect(describeIdentityTypes()).toBe(
      '0 (user-assigned managed identity), 1 (service principal with client secret), 2 (service principal with certificate) or 3 (federated identity)',
    );
  });

  it('federated tokens are for the audience Entra ID expects', () => {
    expect(FEDERATED_TOKEN_AUDIENCE).toBe('api://AzureADTokenExchange');
  });
});
