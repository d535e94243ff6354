/**
 * Azure RBAC as ARM evaluates it for control-plane calls: a principal may perform an action on a
 * resource when one of its role assignments sits at a scope that contains the resource (the scope
 * itself, a parent, or `/`) and the role's `actions` match the action without a `notActions` match.
 * Pure functions; ARM IDs compare case-insensitively.
 * @module
 */
import type { RoleAssignment } from '../state/model.ts';
import { builtInRole, roleGuidOf, type BuiltInRole } from './built-in-roles.ts';

/** Strips trailing slashes and lower-cases, so scopes compare as ARM compares them. */
function normaliseScope(scope: string): string {
  const trimmed = scope.replace(/\/+$/, '').toLowerCase();
  return trimmed === '' ? '/' : trimmed;
}

/**
 * Whether an assignment at `scope` applies to `target`: equal, or `scope` is a parent on a segment
 * boundary (`/subscriptions/a` covers `/subscriptions/a/resourceGroups/b`, not `/subscriptions/ab`).
 */
export function scopeCovers(scope: string, target: string): boolean {
  const parent = normaliseScope(scope);
  const child = normaliseScope(target);
  if (parent === '/') return true;
  return child === parent || child.startsWith(parent + '/');
}

/**
 * Whether an action pattern from a role definition matches `action`: case-insensitive, `*` matches
 * any text, and a `*` segment between two slashes may also be empty, so Managed Identity
 * Operator's `userAssignedIdentities/STAR/assign/action` (STAR = `*`) grants
 * `userAssignedIdentities/assign/action` — which is what that role is for.
 */
export function actionMatches(pattern: string, action: string): boolean {
  const escaped = pattern
    .toLowerCase()
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
    .replaceAll('/.*/', '(?:/.*)?/');
  return new RegExp(`^${escaped}$`).test(action.toLowerCase());
}

/** Whether `role` grants `action` (an `actions` match and no `notActions` match). */
export function roleAllows(role: BuiltInRole, action: string): boolean {
  return role.actions.some((pattern) => actionMatches(pattern, action)) && !role.notActions.some((pattern) => actionMatches(pattern, action));
}

/** Whether `principalId` may perform `action` on `target` through any of `assignments`. */
export function isAuthorized(assignments: readonly RoleAssignment[], principalId: string, action: string, target: string): boolean {
  const principal = principalId.toLowerCase();
  return assignments.some((assignment) => {
    if (assignment.principalId.toLowerCase() !== principal || !scopeCovers(assignment.scope, target)) return false;
    const role = builtInRole(roleGuidOf(assignment.roleDefinitionId));
    return role !== undefined && roleAllows(role, action);
  });
}

/** The ARM action names the simulator checks. */
export const ACTIONS = Object.freeze({
  computeWrite: (type: 'virtualMachines' | 'virtualMachineScaleSets') => `Microsoft.Compute/${type}/write`,
  computeDelete: (type: 'virtualMachines' | 'virtualMachineScaleSets') => `Microsoft.Compute/${type}/delete`,
  identityWrite: 'Microsoft.ManagedIdentity/userAssignedIdentities/write',
  identityDelete: 'Microsoft.ManagedIdentity/userAssignedIdentities/delete',
  identityAssign: 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
  federatedCredentialRead: 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read',
  federatedCredentialWrite: 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write',
  federatedCredentialDelete: 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/delete',
  roleAssignmentWrite: 'Microsoft.Authorization/roleAssignments/write',
  roleAssignmentDelete: 'Microsoft.Authorization/roleAssignments/delete',
});
