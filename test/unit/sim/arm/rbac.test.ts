import { describe, expect, it } from 'vitest';
import { builtInRole, ROLE_IDS, roleGuidOf } from '../../../../src/sim/arm/built-in-roles.ts';
import { ACTIONS, actionMatches, isAuthorized, roleAllows, scopeCovers } from '../../../../src/sim/arm/rbac.ts';
import type { RoleAssignment } from '../../../../src/sim/state/model.ts';

const SUB = '/subscriptions/00000000-0000-4000-8000-000000000001';
const RG = `${SUB}/resourceGroups/rg-nodes`;
const VMSS = `${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/pool`;
const IDENTITY = `${SUB}/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app`;

describe('scopeCovers', () => {
  it.each([
    ['/', VMSS, true],
    [SUB, VMSS, true],
    [RG, VMSS, true],
    [VMSS, VMSS, true],
    [RG.toLowerCase().replace('resourcegroups', 'resourceGroups'), VMSS.toUpperCase(), true],
    [`${RG}/`, VMSS, true],
    [`${SUB}/resourceGroups/rg`, VMSS, false],
    [`${SUB}1`, VMSS, false],
    [VMSS, RG, false],
    [`${SUB}/resourceGroups/rg-ids`, VMSS, false],
  ])('%s covers %s: %s', (scope, target, expected) => {
    expect(scopeCovers(scope, target)).toBe(expected);
  });
});

describe('actionMatches', () => {
  it.each([
    ['*', 'Microsoft.Compute/virtualMachines/write', true],
    ['*/read', 'Microsoft.Compute/virtualMachines/read', true],
    ['*/read', 'Microsoft.Compute/virtualMachines/write', false],
    ['Microsoft.Compute/virtualMachineScaleSets/*', 'Microsoft.Compute/virtualMachineScaleSets/write', true],
    ['Microsoft.Compute/virtualMachineScaleSets/*', 'Microsoft.Compute/virtualMachines/write', false],
    ['microsoft.authorization/*/write', 'Microsoft.Authorization/roleAssignments/write', true],
    ['Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action', 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action', true],
    ['Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action', 'Microsoft.ManagedIdentity/userAssignedIdentities/write', false],
    ['Microsoft.ManagedIdentity/userAssignedIdentities/read', 'Microsoft.ManagedIdentity/userAssignedIdentitiesXread', false],
  ])('%s matches %s: %s', (pattern, action, expected) => {
    expect(actionMatches(pattern, action)).toBe(expected);
  });
});

describe('built-in roles', () => {
  const role = (guid: string) => {
    const found = builtInRole(guid);
    if (found === undefined) throw new Error(guid);
    return found;
  };

  it('has the GUIDs of azure-protocols.md §4.3', () => {
    expect(role('8E3AF657-A8FF-443C-A75C-2FE8C4BCB635').roleName).toBe('Owner');
    expect(role(ROLE_IDS.contributor).roleName).toBe('Contributor');
    expect(role(ROLE_IDS.managedIdentityOperator).roleName).toBe('Managed Identity Operator');
    expect(role('2a2b9908-6ea1-4ae2-8e65-a410df84e7d1').roleName).toBe('Storage Blob Data Reader');
    expect(builtInRole('00000000-0000-0000-0000-000000000000')).toBeUndefined();
    expect(roleGuidOf(`${SUB}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.owner}`)).toBe(ROLE_IDS.owner);
  });

  it.each([
    ['owner', ACTIONS.computeWrite('virtualMachineScaleSets'), true],
    ['contributor', ACTIONS.computeWrite('virtualMachineScaleSets'), true],
    ['virtualMachineContributor', ACTIONS.computeWrite('virtualMachines'), true],
    ['reader', ACTIONS.computeWrite('virtualMachines'), false],
    ['owner', ACTIONS.identityAssign, true],
    ['contributor', ACTIONS.identityAssign, true],
    ['managedIdentityOperator', ACTIONS.identityAssign, true],
    ['virtualMachineContributor', ACTIONS.identityAssign, false],
    ['managedIdentityOperator', ACTIONS.identityWrite, false],
    ['managedIdentityContributor', ACTIONS.identityWrite, true],
    ['managedIdentityContributor', ACTIONS.identityDelete, true],
    ['contributor', ACTIONS.roleAssignmentWrite, false],
    ['owner', ACTIONS.roleAssignmentWrite, true],
    ['userAccessAdministrator', ACTIONS.roleAssignmentWrite, true],
    ['userAccessAdministrator', ACTIONS.computeWrite('virtualMachines'), false],
  ] as const)('%s allows %s: %s', (name, action, expected) => {
    expect(roleAllows(role(ROLE_IDS[name]), action)).toBe(expected);
  });
});

describe('isAuthorized', () => {
  const assignment = (principalId: string, scope: string, role: string): RoleAssignment => ({
    id: `${scope}/providers/Microsoft.Authorization/roleAssignments/x`,
    name: 'x',
    scope,
    roleDefinitionId: `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
    principalId,
    principalType: 'ServicePrincipal',
    createdOn: '2024-01-01T00:00:00Z',
  });
  const assignments = [
    assignment('mic', RG, ROLE_IDS.virtualMachineContributor),
    assignment('MIC', `${SUB}/resourceGroups/rg-ids`, ROLE_IDS.managedIdentityOperator),
    assignment('admin', '/', ROLE_IDS.owner),
    assignment('other', RG, '11111111-1111-1111-1111-111111111111'),
  ];

  it('grants through an assignment on a containing scope, principal IDs case-insensitive', () => {
    expect(isAuthorized(assignments, 'mic', ACTIONS.computeWrite('virtualMachineScaleSets'), VMSS)).toBe(true);
    expect(isAuthorized(assignments, 'mic', ACTIONS.identityAssign, IDENTITY)).toBe(true);
    expect(isAuthorized(assignments, 'admin', ACTIONS.roleAssignmentWrite, RG)).toBe(true);
  });

  it('denies outside the scope, for other principals and for unknown roles', () => {
    expect(isAuthorized(assignments, 'mic', ACTIONS.identityAssign, `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x`)).toBe(false);
    expect(isAuthorized(assignments, 'nobody', ACTIONS.computeWrite('virtualMachines'), VMSS)).toBe(false);
    expect(isAuthorized(assignments, 'other', ACTIONS.computeWrite('virtualMachines'), VMSS)).toBe(false);
  });
});
