import { describe, expect, it } from 'vitest';
import { isUserAssignedIdentityId, parseUserAssignedIdentityId } from '../../../src/api/index.ts';

describe('parseUserAssignedIdentityId', () => {
  it.each([
    [
      'canonical',
      '/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/MC_demo_demo_westeurope/providers/Microsoft.ManagedIdentity/userAssignedIdentities/storage-reader',
      { subscriptionId: '00000000-0000-0000-0000-000000000001', resourceGroup: 'MC_demo_demo_westeurope', name: 'storage-reader' },
    ],
    [
      'resourceGroups as the portal writes it',
      '/subscriptions/sub/resourceGroups/team-a/providers/Microsoft.ManagedIdentity/userAssignedIdentities/team-a-writer',
      { subscriptionId: 'sub', resourceGroup: 'team-a', name: 'team-a-writer' },
    ],
    [
      'all upper case (matched case-insensitively, parts kept as written)',
      '/SUBSCRIPTIONS/SUB/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.MANAGEDIDENTITY/USERASSIGNEDIDENTITIES/ID',
      { subscriptionId: 'SUB', resourceGroup: 'RG', name: 'ID' },
    ],
    [
      'names with dots, parentheses and underscores',
      '/subscriptions/s/resourcegroups/rg.(prod)_1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id_1-a',
      { subscriptionId: 's', resourceGroup: 'rg.(prod)_1', name: 'id_1-a' },
    ],
  ])('parses %s', (_label, id, parts) => {
    expect(parseUserAssignedIdentityId(id)).toEqual(parts);
    expect(isUserAssignedIdentityId(id)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['a bare name', 'storage-reader'],
    ['a client ID', '11111111-1111-1111-1111-111111111111'],
    ['a VM', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm'],
    ['a system-assigned identity path', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/identities/default'],
    ['missing the leading slash', 'subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id'],
    ['a trailing slash', '/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id/'],
    ['a child resource', '/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id/federatedIdentityCredentials/f'],
    ['an empty segment', '/subscriptions//resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id'],
    ['the dot taken literally', '/subscriptions/s/resourcegroups/rg/providers/MicrosoftXManagedIdentity/userAssignedIdentities/id'],
    ['a prefix before it', 'https://management.azure.com/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id'],
    ['overlong', `/subscriptions/s/resourcegroups/${'r'.repeat(1000)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id`],
  ])('rejects %s', (_label, id) => {
    expect(parseUserAssignedIdentityId(id)).toBeUndefined();
    expect(isUserAssignedIdentityId(id)).toBe(false);
  });
});
