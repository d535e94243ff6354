/**
 * Azure's built-in role definitions that matter to pod identity. The GUIDs are the same in every
 * tenant (azure-protocols.md §4.3); the actions are the control-plane subsets of the real
 * definitions that the simulator checks (Owner/Contributor/Reader as published; the others trimmed to
 * the resource providers the simulator serves).
 * @module
 */

export interface BuiltInRole {
  readonly guid: string;
  readonly roleName: string;
  readonly description: string;
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
  readonly dataActions: readonly string[];
}

const role = (guid: string, roleName: string, description: string, actions: readonly string[], notActions: readonly string[] = [], dataActions: readonly string[] = []): BuiltInRole =>
  Object.freeze({ guid, roleName, description, actions, notActions, dataActions });

export const BUILT_IN_ROLES: readonly BuiltInRole[] = Object.freeze([
  role('8e3af657-a8ff-443c-a75c-2fe8c4bcb635', 'Owner', 'Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.', ['*']),
  role('b24988ac-6180-42a0-ab88-20f7382dd24c', 'Contributor', 'Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.', ['*'], [
    'Microsoft.Authorization/*/Delete',
    'Microsoft.Authorization/*/Write',
    'Microsoft.Authorization/elevateAccess/Action',
    'Microsoft.Blueprint/blueprintAssignments/write',
    'Microsoft.Blueprint/blueprintAssignments/delete',
    'Microsoft.Compute/galleries/share/action',
  ]),
  role('acdd72a7-3385-48ef-bd42-f606fba81ae7', 'Reader', 'View all resources, but does not allow you to make any changes.', ['*/read']),
  role('18d7d88d-d35e-4fb5-a5c3-7773c20a72d9', 'User Access Administrator', 'Lets you manage user access to Azure resources.', ['*/read', 'Microsoft.Authorization/*', 'Microsoft.Support/*']),
  role('9980e02c-c2be-4d73-94e8-173b1dc7cf3c', 'Virtual Machine Contributor', 'Create and manage virtual machines, manage disks, install and run software, reset password of the root user of the virtual machine using VM extensions, and connect to the virtual machine using RDP or SSH. This role does not grant you management access to the virtual network or storage account the virtual machines are connected to. This role does not allow you to assign roles in Azure RBAC.', [
    'Microsoft.Authorization/*/read',
    'Microsoft.Compute/availabilitySets/*',
    'Microsoft.Compute/locations/*',
    'Microsoft.Compute/virtualMachines/*',
    'Microsoft.Compute/virtualMachineScaleSets/*',
    'Microsoft.Compute/disks/write',
    'Microsoft.Compute/disks/read',
    'Microsoft.Compute/disks/delete',
    'Microsoft.Network/networkInterfaces/*',
    'Microsoft.Resources/subscriptions/resourceGroups/read',
    'Microsoft.Resources/deployments/*',
  ]),
  role('f1a07417-d97a-45cb-824c-7a7467783830', 'Managed Identity Operator', 'Read and Assign User Assigned Identity', [
    'Microsoft.ManagedIdentity/userAssignedIdentities/*/read',
    'Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action',
    'Microsoft.Authorization/*/read',
    'Microsoft.Insights/alertRules/*',
    'Microsoft.Resources/subscriptions/resourceGroups/read',
    'Microsoft.Resources/deployments/*',
    'Microsoft.Support/*',
  ]),
  role('e40ec5ca-96e0-45a2-b4ff-59039f2c2b59', 'Managed Identity Contributor', 'Create, Read, Update, and Delete User Assigned Identity', [
    'Microsoft.ManagedIdentity/userAssignedIdentities/read',
    'Microsoft.ManagedIdentity/userAssignedIdentities/write',
    'Microsoft.ManagedIdentity/userAssignedIdentities/delete',
    'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read',
    'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write',
    'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete',
    'Microsoft.Authorization/*/read',
    'Microsoft.Insights/alertRules/*',
    'Microsoft.Resources/subscriptions/resourceGroups/read',
    'Microsoft.Resources/deployments/*',
    'Microsoft.Support/*',
  ]),
  role('2a2b9908-6ea1-4ae2-8e65-a410df84e7d1', 'Storage Blob Data Reader', 'Allows for read access to Azure Storage blob containers and data', [
    'Microsoft.Storage/storageAccounts/blobServices/containers/read',
    'Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action',
  ], [], ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read']),
  role('ba92f5b4-2d11-453d-a403-e96b0029c9fe', 'Storage Blob Data Contributor', 'Allows for read, write and delete access to Azure Storage blob containers and data', [
    'Microsoft.Storage/storageAccounts/blobServices/containers/delete',
    'Microsoft.Storage/storageAccounts/blobServices/containers/read',
    'Microsoft.Storage/storageAccounts/blobServices/containers/write',
    'Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action',
  ], [], [
    'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete',
    'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read',
    'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write',
    'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action',
    'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action',
  ]),
  role('17d1049b-9a84-46fb-8f53-869881c3d3ab', 'Storage Account Contributor', 'Lets you manage storage accounts, including accessing storage account keys which provide full access to storage account data.', [
    'Microsoft.Authorization/*/read',
    'Microsoft.Insights/diagnosticSettings/*',
    'Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action',
    'Microsoft.Resources/deployments/*',
    'Microsoft.Resources/subscriptions/resourceGroups/read',
    'Microsoft.Storage/storageAccounts/*',
    'Microsoft.Support/*',
  ]),
]);

/** Well-known GUIDs by role, for callers that assign roles (tests, the sandbox). */
export const ROLE_IDS = Object.freeze({
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
  userAccessAdministrator: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  virtualMachineContributor: '9980e02c-c2be-4d73-94e8-173b1dc7cf3c',
  managedIdentityOperator: 'f1a07417-d97a-45cb-824c-7a7467783830',
  managedIdentityContributor: 'e40ec5ca-96e0-45a2-b4ff-59039f2c2b59',
} as const);

/** A built-in role by GUID (case-insensitive). */
export function builtInRole(guid: string): BuiltInRole | undefined {
  const wanted = guid.toLowerCase();
  return BUILT_IN_ROLES.find((candidate) => candidate.guid === wanted);
}

/** The GUID at the end of a role definition ID (`…/roleDefinitions/{guid}`), or the ID itself. */
export function roleGuidOf(roleDefinitionId: string): string {
  const parts = roleDefinitionId.split('/').filter((part) => part !== '');
  return parts[parts.length - 1] ?? roleDefinitionId;
}
