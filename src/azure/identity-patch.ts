/**
 * Builds the PATCH bodies that add and remove user-assigned identities on a VM or scale set, as a
 * pure function. ARM semantics (azure-protocols.md §3.2): in a PATCH, `{}` adds an identity, `null`
 * removes it, unmentioned ones stay; a `UserAssigned` type with no identity left is rejected, so the
 * last removal switches the type to `None` (or `SystemAssigned`, keeping a system identity); at most
 * 150 identity changes per request, so larger changes become several requests applied in order.
 * @module
 */

export type ResourceIdentityType = 'None' | 'SystemAssigned' | 'UserAssigned' | 'SystemAssigned, UserAssigned';

/** The identity block of a VM or scale set as read from ARM. */
export interface CurrentIdentity {
  /** As ARM returned it (compared case-insensitively); undefined when there is no identity block. */
  readonly type: string | undefined;
  /** User-assigned identity IDs on the resource, any casing. */
  readonly userAssignedIdentities: readonly string[];
}

/** The `identity` of a PATCH body. */
export interface IdentityPatch {
  readonly type: ResourceIdentityType;
  /** `{}` adds, `null` removes; absent when the type drops user-assigned identities entirely. */
  readonly userAssignedIdentities?: Record<string, Record<string, never> | null>;
}

/** ARM's limit of user-assigned identity changes in one request. */
export const MAX_IDENTITY_CHANGES_PER_REQUEST = 150;

export function hasSystemAssigned(type: string | undefined): boolean {
  return type !== undefined && type.toLowerCase().replace(/\s/g, '').split(',').includes('systemassigned');
}

function typeFor(system: boolean, userCount: number): ResourceIdentityType {
  if (userCount === 0) return system ? 'SystemAssigned' : 'None';
  return system ? 'SystemAssigned, UserAssigned' : 'UserAssigned';
}

/**
 * The PATCH identity blocks that take `current` to `current + add − remove`, in order, each with at
 * most `maxChanges` changes. IDs already present are not re-added, absent ones not removed; an ID
 * in both lists stays (adds win, as upstream). Keys are lower-cased. Empty when nothing changes.
 */
export function buildIdentityPatches(
  current: CurrentIdentity,
  add: readonly string[],
  remove: readonly string[],
  maxChanges = MAX_IDENTITY_CHANGES_PER_REQUEST,
): IdentityPatch[] {
  const present = new Set(current.userAssignedIdentities.map((id) => id.toLowerCase()));
  const adding = new Set(add.map((id) => id.toLowerCase()));
  const changes: { id: string; add: boolean }[] = [];
  for (const id of [...adding].sort()) if (!present.has(id)) changes.push({ id, add: true });
  for (const id of [...new Set(remove.map((entry) => entry.toLowerCase()))].sort()) {
    if (present.has(id) && !adding.has(id)) changes.push({ id, add: false });
  }
  const system = hasSystemAssigned(current.type);
  const patches: IdentityPatch[] = [];
  const remaining = new Set(present);
  for (let start = 0; start < changes.length; start += maxChanges) {
    const chunk = changes.slice(start, start + maxChanges);
    for (const change of chunk) {
      if (change.add) remaining.add(change.id);
      else remaining.delete(change.id);
    }
    const type = typeFor(system, remaining.size);
    if (remaining.size === 0) {
      // Removing the last user-assigned identity: only the type can say so.
      patches.push({ type });
      continue;
    }
    patches.push({ type, userAssignedIdentities: Object.fromEntries(chunk.map((change) => [change.id, change.add ? {} : null])) });
  }
  return patches;
}
