/**
 * JSON shapes of `Microsoft.Authorization` role assignments and role definitions
 * (azure-protocols.md §4.2–4.3), as @azure/arm-authorization 9 reads them.
 * @module
 */
import type { RoleAssignment } from '../../state/model.ts';
import type { BuiltInRole } from '../built-in-roles.ts';

export const ROLE_ASSIGNMENT_TYPE = 'Microsoft.Authorization/roleAssignments';
export const ROLE_DEFINITION_TYPE = 'Microsoft.Authorization/roleDefinitions';

/** `{scope}/providers/Microsoft.Authorization/{collection}/{name}`, with the root scope `/` written as nothing. */
export function authorizationId(scope: string, collection: 'roleAssignments' | 'roleDefinitions', name: string): string {
  const prefix = scope === '/' ? '' : scope.replace(/\/+$/, '');
  return `${prefix}/providers/Microsoft.Authorization/${collection}/${name}`;
}

export function renderRoleAssignment(assignment: RoleAssignment): Record<string, unknown> {
  return {
    id: assignment.id,
    name: assignment.name,
    type: ROLE_ASSIGNMENT_TYPE,
    properties: {
      roleDefinitionId: assignment.roleDefinitionId,
      principalId: assignment.principalId,
      principalType: assignment.principalType,
      scope: assignment.scope,
      condition: null,
      conditionVersion: null,
      createdOn: assignment.createdOn,
      updatedOn: assignment.createdOn,
      createdBy: null,
      updatedBy: null,
      delegatedManagedIdentityResourceId: null,
      description: assignment.description ?? null,
    },
  };
}

/** The subscription part of a scope (`/subscriptions/{id}`), or `` for scopes above subscriptions. */
export function subscriptionScopeOf(scope: string): string {
  const match = /^\/subscriptions\/[^/]+/i.exec(scope);
  return match?.[0] ?? '';
}

/** Built-in definitions are reported at the subscription of the scope asked about (or the root). */
export function renderRoleDefinition(role: BuiltInRole, scope: string): Record<string, unknown> {
  return {
    id: authorizationId(subscriptionScopeOf(scope) || '/', 'roleDefinitions', role.guid),
    name: role.guid,
    type: ROLE_DEFINITION_TYPE,
    properties: {
      roleName: role.roleName,
      type: 'BuiltInRole',
      description: role.description,
      assignableScopes: ['/'],
      permissions: [{ actions: [...role.actions], notActions: [...role.notActions], dataActions: [...role.dataActions], notDataActions: [] }],
      createdOn: '2015-02-02T21:55:09.8806423Z',
      updatedOn: '2021-11-11T20:13:47.8628684Z',
      createdBy: null,
      updatedBy: null,
    },
  };
}
