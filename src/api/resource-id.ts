/**
 * Parsing ARM resource IDs of user-assigned managed identities.
 * @module
 */

/**
 * Source of the pattern a type-0 identity's resourceID must match, case-insensitively (as
 * upstream's `(?i)` regex): `/subscriptions/<sub>/resourcegroups/<rg>/providers/
 * Microsoft.ManagedIdentity/userAssignedIdentities/<name>`. Means the same in JavaScript and RE2.
 */
export const USER_ASSIGNED_IDENTITY_ID_PATTERN =
  '^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/Microsoft[.]ManagedIdentity/userAssignedIdentities/([^/]+)$';

/** Longest resource ID the CRD accepts; real ones stay under 400 characters. */
export const RESOURCE_ID_MAX_LENGTH = 1024;

const USER_ASSIGNED_IDENTITY_ID = new RegExp(USER_ASSIGNED_IDENTITY_ID_PATTERN, 'i');

/** The parts of a user-assigned identity's resource ID, as written (ARM compares them case-insensitively). */
export interface UserAssignedIdentityId {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
}

/** The parts of a user-assigned identity's resource ID, or undefined when `id` is not one. */
export function parseUserAssignedIdentityId(id: string): UserAssignedIdentityId | undefined {
  if (id.length > RESOURCE_ID_MAX_LENGTH) return undefined;
  const match = USER_ASSIGNED_IDENTITY_ID.exec(id);
  if (match === null) return undefined;
  const [, subscriptionId, resourceGroup, name] = match;
  if (subscriptionId === undefined || resourceGroup === undefined || name === undefined) return undefined;
  return { subscriptionId, resourceGroup, name };
}

/** True when `id` is the resource ID of a user-assigned managed identity. */
export function isUserAssignedIdentityId(id: string): boolean {
  return parseUserAssignedIdentityId(id) !== undefined;
}
