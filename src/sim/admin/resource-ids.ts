/**
 * Parsing the ARM resource IDs the admin API accepts (case-insensitive, as ARM).
 * @module
 */

export interface ParsedResourceId {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** e.g. `Microsoft.ManagedIdentity/userAssignedIdentities` as written. */
  readonly type: string;
  readonly name: string;
}

const RESOURCE_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)$/i;
export const RESOURCE_GROUP_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)$/i;
export const IDENTITY_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/]+$/i;

/** A top-level resource ID `/subscriptions/…/resourceGroups/…/providers/<ns>/<type>/<name>`, or undefined. */
export function parseResourceId(id: string): ParsedResourceId | undefined {
  const match = RESOURCE_ID.exec(id);
  if (match === null) return undefined;
  const [, subscriptionId, resourceGroup, type, name] = match;
  if (subscriptionId === undefined || resourceGroup === undefined || type === undefined || name === undefined) return undefined;
  return { subscriptionId, resourceGroup, type, name };
}
