import { describe, expect, it } from 'vitest';
import { parseFilter } from '../../../../src/sim/arm/odata-filter.ts';
import { parseArmPath, pathSegments } from '../../../../src/sim/arm/paths.ts';

const SUB = '00000000-0000-4000-8000-000000000001';

describe('parseArmPath', () => {
  it.each([
    ['/tenants?api-version=2022-12-01', { kind: 'tenants' }],
    ['/subscriptions?api-version=2022-12-01', { kind: 'subscriptions' }],
    [`/subscriptions/${SUB}`, { kind: 'subscription', subscriptionId: SUB }],
    [`/subscriptions/${SUB}/resourcegroups`, { kind: 'resourceGroups', subscriptionId: SUB }],
    [`/subscriptions/${SUB}/resourceGroups/RG`, { kind: 'resourceGroup', subscriptionId: SUB, resourceGroup: 'RG' }],
    [
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1?api-version=2026-04-01`,
      { kind: 'compute', type: 'virtualMachines', subscriptionId: SUB, resourceGroup: 'rg', name: 'vm-1' },
    ],
    [
      `/SUBSCRIPTIONS/${SUB}/RESOURCEGROUPS/rg/PROVIDERS/microsoft.compute/VIRTUALMACHINESCALESETS/Pool/`,
      { kind: 'compute', type: 'virtualMachineScaleSets', subscriptionId: SUB, resourceGroup: 'rg', name: 'Pool' },
    ],
    [`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets`, { kind: 'compute', type: 'virtualMachineScaleSets', subscriptionId: SUB, resourceGroup: 'rg' }],
    [`/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`, { kind: 'compute', type: 'virtualMachines', subscriptionId: SUB }],
    [
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines`,
      { kind: 'scaleSetInstances', subscriptionId: SUB, resourceGroup: 'rg', scaleSetName: 'pool' },
    ],
    [
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/3`,
      { kind: 'scaleSetInstances', subscriptionId: SUB, resourceGroup: 'rg', scaleSetName: 'pool', instanceId: '3' },
    ],
    [
      `/subscriptions/${SUB}/providers/Microsoft.Compute/locations/westeurope/operations/0d8f0c4e-1111-2222-3333-444455556666?api-version=2026-04-01`,
      { kind: 'computeOperation', subscriptionId: SUB, location: 'westeurope', operationId: '0d8f0c4e-1111-2222-3333-444455556666' },
    ],
    [
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/my%20id`,
      { kind: 'userAssignedIdentities', subscriptionId: SUB, resourceGroup: 'rg', name: 'my id' },
    ],
    [`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities`, { kind: 'userAssignedIdentities', subscriptionId: SUB, resourceGroup: 'rg' }],
    [`/subscriptions/${SUB}/providers/Microsoft.ManagedIdentity/userAssignedIdentities`, { kind: 'userAssignedIdentities', subscriptionId: SUB }],
    [
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app/federatedIdentityCredentials?api-version=2024-11-30`,
      { kind: 'federatedIdentityCredentials', subscriptionId: SUB, resourceGroup: 'rg', identityName: 'app' },
    ],
    [
      `/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.managedidentity/USERASSIGNEDIDENTITIES/app/FederatedIdentityCredentials/kube-nmi`,
      { kind: 'federatedIdentityCredentials', subscriptionId: SUB, resourceGroup: 'rg', identityName: 'app', name: 'kube-nmi' },
    ],
    [
      `//subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/1c1f0a2e-0000-4000-8000-000000000000`,
      { kind: 'roleAssignments', scope: `/subscriptions/${SUB}/resourceGroups/rg`, name: '1c1f0a2e-0000-4000-8000-000000000000' },
    ],
    [
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app/providers/microsoft.authorization/roleassignments?$filter=atScope()`,
      { kind: 'roleAssignments', scope: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app` },
    ],
    ['/providers/Microsoft.Authorization/roleAssignments', { kind: 'roleAssignments', scope: '/' }],
    [`/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`, { kind: 'roleDefinitions', scope: `/subscriptions/${SUB}`, id: 'acdd72a7-3385-48ef-bd42-f606fba81ae7' }],
    ['/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20%27Reader%27', { kind: 'roleDefinitions', scope: '/' }],
  ])('%s', (url, expected) => {
    expect(parseArmPath(url)).toEqual(expected);
  });

  it.each([
    '/',
    '/metadata/endpoints',
    `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet`,
    `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/d`,
    `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/e`,
    `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines/vm`,
    `/subscriptions/${SUB}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x`,
    `/subscriptions/${SUB}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x/federatedIdentityCredentials`,
    `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x/otherChildren/y`,
    `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x/federatedIdentityCredentials/y/z`,
    `/subscriptions/${SUB}/providers/Microsoft.Authorization/policyDefinitions`,
    `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/%E0%A4%A`,
  ])('does not serve %s', (url) => {
    expect(parseArmPath(url)).toBeUndefined();
  });

  it('splits paths into decoded segments, ignoring empty ones and the query', () => {
    expect(pathSegments('//a/b%2Fc//d/?x=/y')).toEqual(['a', 'b/c', 'd']);
  });
});

describe('parseFilter', () => {
  it.each([
    ['', []],
    ['atScope()', [{ kind: 'atScope' }]],
    ["principalId eq 'abc'", [{ kind: 'eq', field: 'principalId', value: 'abc' }]],
    ["atScope() and assignedTo('p1')", [{ kind: 'atScope' }, { kind: 'assignedTo', value: 'p1' }]],
    ["roleName eq 'Storage Blob Data Reader'", [{ kind: 'eq', field: 'roleName', value: 'Storage Blob Data Reader' }]],
    ["roleName eq 'It''s and more'", [{ kind: 'eq', field: 'roleName', value: "It's and more" }]],
  ])('%j', (filter, expected) => {
    expect(parseFilter(filter)).toEqual(expected);
  });

  it.each(["principalId ne 'x'", 'atScope() and', 'atScope() or atScope()', "principalId eq 'x"])('rejects %j', (filter) => {
    expect(parseFilter(filter)).toBeUndefined();
  });
});
