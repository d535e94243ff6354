/**
 * Which managed identity an IMDS token request is for, among those assigned to the node's VM or
 * scale set (azure-protocols.md §1.1, §1.3). Pure.
 *
 * - `client_id`, `object_id`, `msi_res_id` / `mi_res_id` (names and values case-insensitive) select
 *   an identity; when several are given, all must name the same one.
 * - None given: the system-assigned identity when enabled, else the only user-assigned one, else
 *   "Multiple user assigned identities…" (several) or "Identity not found" (none).
 * @module
 */
import type { ComputeResource } from '../state/model.ts';
import type { AssignedIdentities } from '../state/store.ts';
import type { ManagedIdentityPrincipal } from '../tokens/claims.ts';
import { queryParam } from './paths.ts';

export interface IdentitySelector {
  readonly clientId?: string;
  readonly objectId?: string;
  /** ARM ID of a user-assigned identity (`msi_res_id`, or the older `mi_res_id`). */
  readonly resourceId?: string;
}

/** Reads the selector parameters of a token request. */
export function readIdentitySelector(query: URLSearchParams): IdentitySelector {
  const clientId = queryParam(query, 'client_id');
  const objectId = queryParam(query, 'object_id');
  const resourceId = queryParam(query, 'msi_res_id') ?? queryParam(query, 'mi_res_id');
  return {
    ...(clientId === undefined ? {} : { clientId }),
    ...(objectId === undefined ? {} : { objectId }),
    ...(resourceId === undefined ? {} : { resourceId }),
  };
}

/** The identities a VM or scale set can hand out. */
export interface AvailableIdentities {
  /** Its `xms_mirid` is the VM/VMSS ID. */
  readonly systemAssigned?: ManagedIdentityPrincipal;
  readonly userAssigned: readonly ManagedIdentityPrincipal[];
}

/** Resolves the store's view of a compute resource's identities into selectable principals. */
export function availableIdentities(resource: ComputeResource, assigned: AssignedIdentities): AvailableIdentities {
  const userAssigned = assigned.userAssigned.map((identity) => ({ clientId: identity.clientId, principalId: identity.principalId, resourceId: identity.id }));
  const system = assigned.systemAssigned;
  return system === undefined
    ? { userAssigned }
    : { userAssigned, systemAssigned: { clientId: system.clientId, principalId: system.principalId, resourceId: resource.id } };
}

export type IdentitySelection =
  | { readonly kind: 'selected'; readonly identity: ManagedIdentityPrincipal }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'ambiguous' };

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export function selectIdentity(selector: IdentitySelector, available: AvailableIdentities): IdentitySelection {
  const { clientId, objectId, resourceId } = selector;
  if (clientId === undefined && objectId === undefined && resourceId === undefined) {
    if (available.systemAssigned !== undefined) return { kind: 'selected', identity: available.systemAssigned };
    const [only, ...others] = available.userAssigned;
    if (only === undefined) return { kind: 'not-found' };
    return others.length === 0 ? { kind: 'selected', identity: only } : { kind: 'ambiguous' };
  }
  // The system-assigned identity can be named by its client or object ID, not by a resource ID.
  const candidates = [...available.userAssigned.map((identity) => ({ identity, byResourceId: true })), ...(available.systemAssigned === undefined ? [] : [{ identity: available.systemAssigned, byResourceId: false }])];
  const match = candidates.find(
    ({ identity, byResourceId }) =>
      (clientId === undefined || same(identity.clientId, clientId)) &&
      (objectId === undefined || same(identity.principalId, objectId)) &&
      (resourceId === undefined || (byResourceId && same(identity.resourceId, resourceId))),
  );
  return match === undefined ? { kind: 'not-found' } : { kind: 'selected', identity: match.identity };
}
