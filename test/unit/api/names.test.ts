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
  IDENTITY_READY_CONDITION,
  IDENTITY_TYPES,
  IdentityType,
  isIdentityType,
  isServicePrincipalType,
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
  it('are 0, 1 and 2', () => {
    expect(IDENTITY_TYPES).toEqual([0, 1, 2]);
    expect([0, 1, 2, 3, -1, '1', null].map(isIdentityType)).toEqual([true, true, true, false, false, false, false]);
    expect([IdentityType.UserAssignedMSI, IdentityType.ServicePrincipal, IdentityType.ServicePrincipalCertificate].map(isServicePrincipalType)).toEqual([
      false,
      true,
      true,
    ]);
  });
});
