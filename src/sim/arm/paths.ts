/**
 * Parses an ARM request path into the route it names. ARM paths are case-insensitive in their fixed
 * segments (`resourcegroups` and `resourceGroups`, `microsoft.compute`, …) while names keep the
 * caller's casing; role assignments and definitions live below any scope (`/{scope}/providers/
 * Microsoft.Authorization/…`), which a router with fixed patterns cannot express — hence this parser.
 * @module
 */

export type ComputeType = 'virtualMachines' | 'virtualMachineScaleSets';

/** What a path addresses. A missing `name` means "the collection" (list). */
export type ArmRoute =
  | { readonly kind: 'tenants' }
  | { readonly kind: 'subscriptions' }
  | { readonly kind: 'subscription'; readonly subscriptionId: string }
  | { readonly kind: 'resourceGroups'; readonly subscriptionId: string }
  | { readonly kind: 'resourceGroup'; readonly subscriptionId: string; readonly resourceGroup: string }
  | {
      readonly kind: 'compute';
      readonly type: ComputeType;
      readonly subscriptionId: string;
      /** Absent: subscription-wide list. */
      readonly resourceGroup?: string;
      readonly name?: string;
    }
  | {
      readonly kind: 'scaleSetInstances';
      readonly subscriptionId: string;
      readonly resourceGroup: string;
      readonly scaleSetName: string;
      readonly instanceId?: string;
    }
  | { readonly kind: 'computeOperation'; readonly subscriptionId: string; readonly location: string; readonly operationId: string }
  | { readonly kind: 'userAssignedIdentities'; readonly subscriptionId: string; readonly resourceGroup?: string; readonly name?: string }
  | {
      readonly kind: 'federatedIdentityCredentials';
      readonly subscriptionId: string;
      readonly resourceGroup: string;
      readonly identityName: string;
      /** Absent: the identity's list. */
      readonly name?: string;
    }
  | { readonly kind: 'roleDefinitions'; readonly scope: string; readonly id?: string }
  | { readonly kind: 'roleAssignments'; readonly scope: string; readonly name?: string };

/**
 * The path's segments, URL-decoded: query dropped, empty segments dropped (the Authorization SDK
 * produces `//subscriptions/…` when given a scope with a leading slash), trailing slash ignored.
 * Undefined when a segment is not valid percent-encoding.
 */
export function pathSegments(url: string): string[] | undefined {
  const path = url.split('?', 1)[0] ?? '';
  const segments: string[] = [];
  for (const raw of path.split('/')) {
    if (raw === '') continue;
    try {
      segments.push(decodeURIComponent(raw));
    } catch {
      return undefined;
    }
  }
  return segments;
}

/** A scope path from segments: `/` for the tenant root, else `/a/b/c`. */
export function scopeFromSegments(segments: readonly string[]): string {
  return '/' + segments.join('/');
}

const eq = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b.toLowerCase();

/** Matches `providers/Microsoft.Authorization/{collection}[/{id}]` at the end of `segments`. */
function parseAuthorization(segments: readonly string[]): ArmRoute | undefined {
  for (let index = segments.length - 1; index >= 0; index--) {
    if (!eq(segments[index], 'providers') || !eq(segments[index + 1], 'Microsoft.Authorization')) continue;
    const rest = segments.slice(index + 2);
    const scope = scopeFromSegments(segments.slice(0, index));
    const [collection, id, ...extra] = rest;
    if (extra.length > 0 || collection === undefined) return undefined;
    if (eq(collection, 'roleAssignments')) return id === undefined ? { kind: 'roleAssignments', scope } : { kind: 'roleAssignments', scope, name: id };
    if (eq(collection, 'roleDefinitions')) return id === undefined ? { kind: 'roleDefinitions', scope } : { kind: 'roleDefinitions', scope, id };
    return undefined;
  }
  return undefined;
}

/** `providers/Microsoft.Compute/...` and `providers/Microsoft.ManagedIdentity/...` (with identities' federated credentials) below a subscription (and maybe a group). */
function parseProvider(subscriptionId: string, resourceGroup: string | undefined, rest: readonly string[]): ArmRoute | undefined {
  const [providers, namespace, type, name, child, childId, ...extra] = rest;
  if (!eq(providers, 'providers') || extra.length > 0) return undefined;
  const group = resourceGroup === undefined ? {} : { resourceGroup };
  if (eq(namespace, 'Microsoft.ManagedIdentity') && eq(type, 'userAssignedIdentities')) {
    if (name !== undefined && resourceGroup === undefined) return undefined;
    if (child === undefined) return { kind: 'userAssignedIdentities', subscriptionId, ...group, ...(name !== undefined ? { name } : {}) };
    if (name === undefined || resourceGroup === undefined || !eq(child, 'federatedIdentityCredentials')) return undefined;
    return { kind: 'federatedIdentityCredentials', subscriptionId, resourceGroup, identityName: name, ...(childId !== undefined ? { name: childId } : {}) };
  }
  if (!eq(namespace, 'Microsoft.Compute') || type === undefined) return undefined;
  // /subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/operations/{id}
  if (eq(type, 'locations') && resourceGroup === undefined) {
    if (name !== undefined && eq(child, 'operations') && childId !== undefined) return { kind: 'computeOperation', subscriptionId, location: name, operationId: childId };
    return undefined;
  }
  const computeType: ComputeType | undefined = eq(type, 'virtualMachines') ? 'virtualMachines' : eq(type, 'virtualMachineScaleSets') ? 'virtualMachineScaleSets' : undefined;
  if (computeType === undefined) return undefined;
  if (name === undefined) return { kind: 'compute', type: computeType, subscriptionId, ...group };
  if (resourceGroup === undefined) return undefined;
  if (child === undefined) return { kind: 'compute', type: computeType, subscriptionId, resourceGroup, name };
  if (computeType === 'virtualMachineScaleSets' && eq(child, 'virtualMachines')) {
    return { kind: 'scaleSetInstances', subscriptionId, resourceGroup, scaleSetName: name, ...(childId !== undefined ? { instanceId: childId } : {}) };
  }
  return undefined;
}

/** The route a request path names, or undefined when the simulator does not serve it. */
export function parseArmPath(url: string): ArmRoute | undefined {
  const segments = pathSegments(url);
  if (segments === undefined) return undefined;
  const authorization = parseAuthorization(segments);
  if (authorization !== undefined) return authorization;

  const [root, subscriptionId, third, resourceGroup, ...rest] = segments;
  if (eq(root, 'tenants') && subscriptionId === undefined) return { kind: 'tenants' };
  if (!eq(root, 'subscriptions')) return undefined;
  if (subscriptionId === undefined) return { kind: 'subscriptions' };
  if (third === undefined) return { kind: 'subscription', subscriptionId };
  if (eq(third, 'resourceGroups')) {
    if (resourceGroup === undefined) return { kind: 'resourceGroups', subscriptionId };
    if (rest.length === 0) return { kind: 'resourceGroup', subscriptionId, resourceGroup };
    return parseProvider(subscriptionId, resourceGroup, rest);
  }
  return parseProvider(subscriptionId, undefined, segments.slice(2));
}
