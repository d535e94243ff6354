/**
 * Checks of the Azure values the CLI's Azure commands take, as pure functions that return what is
 * expected (or undefined when the text is fine): GUIDs, resource group names and ARM scopes; and the
 * IDs built from them.
 * @module
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(text: string): boolean {
  return GUID.test(text);
}

export function checkGuid(text: string): string | undefined {
  return isGuid(text) ? undefined : 'a GUID such as 00000000-0000-0000-0000-000000000000';
}

/** Resource group names: 1–90 letters, digits, `_-.()`, not ending in `.`. */
export function checkResourceGroup(text: string): string | undefined {
  return /^[\w.()-]{1,90}$/.test(text) && !text.endsWith('.') ? undefined : 'a resource group name (1-90 letters, digits, _-.() not ending in .)';
}

/** The parts of an ARM scope, as far as a role assignment cares. */
export type ParsedScope =
  | { readonly kind: 'root' }
  | { readonly kind: 'managementGroup'; readonly name: string }
  | { readonly kind: 'subscription'; readonly subscriptionId: string }
  | { readonly kind: 'resourceGroup'; readonly subscriptionId: string; readonly resourceGroup: string }
  | { readonly kind: 'resource'; readonly subscriptionId: string; readonly resourceGroup: string; readonly provider: string; readonly path: readonly string[] };

/**
 * An ARM scope: `/`, a management group, a subscription, a resource group or a resource under one
 * (`…/providers/<Namespace>/<type>/<name>[/<type>/<name>…]`). Undefined when malformed.
 */
export function parseScope(text: string): ParsedScope | undefined {
  const scope = text.trim().replace(/\/+$/, '');
  if (scope === '') return text.trim() === '/' ? { kind: 'root' } : undefined;
  if (!scope.startsWith('/') || scope.includes('//')) return undefined;
  const parts = scope.slice(1).split('/');
  const lower = parts.map((part) => part.toLowerCase());
  if (lower[0] === 'providers' && lower[1] === 'microsoft.management' && lower[2] === 'managementgroups' && parts.length === 4 && parts[3] !== undefined) {
    return { kind: 'managementGroup', name: parts[3] };
  }
  if (lower[0] !== 'subscriptions' || parts[1] === undefined || !isGuid(parts[1])) return undefined;
  const subscriptionId = parts[1];
  if (parts.length === 2) return { kind: 'subscription', subscriptionId };
  if (lower[2] !== 'resourcegroups' || parts[3] === undefined || checkResourceGroup(parts[3]) !== undefined) return undefined;
  const resourceGroup = parts[3];
  if (parts.length === 4) return { kind: 'resourceGroup', subscriptionId, resourceGroup };
  // providers/<Namespace>/<type>/<name> [/<type>/<name>]*
  const rest = parts.slice(4);
  if (rest[0]?.toLowerCase() !== 'providers' || rest.length < 4 || (rest.length - 2) % 2 !== 0) return undefined;
  const [, provider, ...path] = rest;
  if (provider === undefined || !/^[A-Za-z][\w]*(\.[A-Za-z][\w]*)+$/.test(provider) || path.some((segment) => segment === '')) return undefined;
  return { kind: 'resource', subscriptionId, resourceGroup, provider, path };
}

export function checkScope(text: string): string | undefined {
  return parseScope(text) === undefined
    ? 'an ARM scope: /subscriptions/<guid>[/resourceGroups/<name>[/providers/<Namespace>/<type>/<name>]] or /providers/Microsoft.Management/managementGroups/<name>'
    : undefined;
}

/** `/subscriptions/<sub>/resourceGroups/<rg>`. */
export function resourceGroupScope(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;
}

/** The ARM ID of a user-assigned identity. */
export function userAssignedIdentityId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `${resourceGroupScope(subscriptionId, resourceGroup)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
}

/** Scopes compare case-insensitively, without trailing slashes. */
export function sameScope(a: string, b: string): boolean {
  const normal = (scope: string): string => scope.trim().replace(/\/+$/, '').toLowerCase();
  return normal(a) === normal(b);
}
