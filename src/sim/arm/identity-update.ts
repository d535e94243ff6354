/**
 * The `identity` block of a VM / scale set PUT or PATCH, applied as Compute applies it
 * (azure-protocols.md §3.1–3.2). Pure: no store, no clock; the caller supplies lookups.
 *
 * - PATCH merges `userAssignedIdentities`: `{}` adds, `null` removes, unmentioned entries stay.
 *   PUT replaces the set with the entries whose value is not `null`. Without a map (either mode) the
 *   current set stays — lenient, as is a map without a `type` (read as "also UserAssigned").
 * - Values must be `{}`, `null` or the entry's unchanged read-only object → else `InvalidIdentityValues`.
 * - `type` is compared case-insensitively, `SystemAssigned,UserAssigned` without a space is accepted.
 *   A type without UserAssigned and a non-empty map → `BadRequest`; UserAssigned and nothing left →
 *   `MissingIdentityIds`; a type without UserAssigned drops every user-assigned identity.
 * - SystemAssigned keeps the existing system identity or creates one; dropping it deletes it.
 * - More than 150 user-assigned changes, or an identity that does not exist → `FailedIdentityOperation`.
 * - Identity IDs match case-insensitively; stored keys keep the casing they were first written with.
 * @module
 */
import type { ResourceIdentity, ResourceIdentityType } from '../state/model.ts';
import {
  ArmError,
  identityNotFound,
  invalidIdentityValues,
  invalidParameter,
  invalidRequestContent,
  MAX_IDENTITY_CHANGES_PER_REQUEST,
  missingIdentityIds,
  tooManyIdentityChanges,
  userAssignedMapWithoutUserAssignedType,
} from './errors.ts';

export type UpdateMode = 'patch' | 'put';

/** What applying an update needs to know about the world. */
export interface IdentityUpdateContext {
  /** ID of the VM / scale set (appears in `FailedIdentityOperation` messages). */
  readonly resourceId: string;
  /** A user-assigned identity by ID (case-insensitive); undefined when it does not exist. */
  userAssigned(id: string): { readonly principalId: string; readonly clientId: string } | undefined;
  /** IDs for a new system-assigned identity. */
  newSystemAssigned(): { readonly principalId: string; readonly clientId: string; readonly tenantId: string };
}

/** What changed; `added` keeps the caller's spelling, `removed` the stored one. */
export interface IdentityChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly systemAssigned: 'added' | 'removed' | 'kept' | 'none';
}

export type IdentityUpdateResult =
  | { readonly ok: true; readonly identity: ResourceIdentity; readonly changes: IdentityChanges }
  | { readonly ok: false; readonly error: ArmError };

interface TypeFlags {
  readonly system: boolean;
  readonly user: boolean;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const fail = (error: ArmError): IdentityUpdateResult => ({ ok: false, error });

/** `SystemAssigned, UserAssigned` etc. from flags, spelled as ARM answers. */
export function identityTypeOf(flags: TypeFlags): ResourceIdentityType {
  if (flags.system && flags.user) return 'SystemAssigned, UserAssigned';
  if (flags.system) return 'SystemAssigned';
  if (flags.user) return 'UserAssigned';
  return 'None';
}

function flagsOf(type: ResourceIdentityType): TypeFlags {
  return { system: type.startsWith('SystemAssigned'), user: type.endsWith('UserAssigned') };
}

/**
 * Parses a requested `identity.type`: case-insensitive, parts separated by a comma with any spacing
 * (the service accepts `SystemAssigned,UserAssigned`; the docs send `userAssigned`). Undefined when invalid.
 */
export function parseIdentityType(value: unknown): ResourceIdentityType | undefined {
  if (typeof value !== 'string') return undefined;
  const parts = value
    .split(',')
    .map((part) => part.trim().toLowerCase())
    .filter((part) => part !== '');
  if (parts.length === 1 && parts[0] === 'none') return 'None';
  if (parts.length === 0 || parts.length > 2 || new Set(parts).size !== parts.length) return undefined;
  if (!parts.every((part) => part === 'systemassigned' || part === 'userassigned')) return undefined;
  return identityTypeOf({ system: parts.includes('systemassigned'), user: parts.includes('userassigned') });
}

/** The stored key matching `id` case-insensitively. */
function findKey(keys: readonly string[], id: string): string | undefined {
  const wanted = id.toLowerCase();
  return keys.find((key) => key.toLowerCase() === wanted);
}

/** Whether `value` is the entry's read-only object sent back unchanged (`{principalId, clientId}`). */
function isUnchangedReadOnly(value: Record<string, unknown>, id: string, assigned: boolean, context: IdentityUpdateContext): boolean {
  if (!assigned) return false;
  const record = context.userAssigned(id);
  return Object.entries(value).every(([name, field]) => {
    if (name !== 'principalId' && name !== 'clientId') return false;
    // An identity deleted while assigned has nothing left to compare with: accept what the caller read.
    if (record === undefined) return typeof field === 'string';
    return typeof field === 'string' && field.toLowerCase() === record[name].toLowerCase();
  });
}

/**
 * User-assigned IDs the request would newly add to `current` (keys with a non-null value not yet
 * assigned). ARM checks `assign/action` on these before Compute sees the request, so this runs
 * before {@link applyIdentityUpdate} validates anything.
 */
export function requestedAdditions(current: ResourceIdentity, requested: unknown): string[] {
  if (!isRecord(requested) || !isRecord(requested['userAssignedIdentities'])) return [];
  return Object.entries(requested['userAssignedIdentities'])
    .filter(([id, value]) => value !== null && findKey(current.userAssignedIdentities, id) === undefined)
    .map(([id]) => id);
}

/** The requested type, or (lenient) the current one widened to UserAssigned when a map is sent without a type. */
function requestedFlags(requested: Record<string, unknown>, current: ResourceIdentity, map: Record<string, unknown> | undefined): TypeFlags | ArmError {
  if (requested['type'] === undefined || requested['type'] === null) {
    const flags = flagsOf(current.type);
    return map !== undefined && Object.keys(map).length > 0 ? { system: flags.system, user: true } : flags;
  }
  const type = parseIdentityType(requested['type']);
  return type === undefined ? invalidParameter('identity.type') : flagsOf(type);
}

/** The user-assigned set the request asks for, before existence checks. */
function requestedUserSet(current: ResourceIdentity, map: Record<string, unknown> | undefined, mode: UpdateMode, context: IdentityUpdateContext): string[] | ArmError {
  const currentKeys = flagsOf(current.type).user ? current.userAssignedIdentities : [];
  if (map === undefined) return [...currentKeys];
  const result = mode === 'patch' ? [...currentKeys] : [];
  for (const [id, value] of Object.entries(map)) {
    const existing = findKey(currentKeys, id);
    if (value === null) {
      if (mode === 'patch' && existing !== undefined) result.splice(result.indexOf(existing), 1);
      continue;
    }
    if (!isRecord(value)) return invalidIdentityValues();
    if (Object.keys(value).length > 0 && !isUnchangedReadOnly(value, id, existing !== undefined, context)) return invalidIdentityValues();
    if (findKey(result, id) === undefined) result.push(existing ?? id);
  }
  return result;
}

/**
 * Applies the `identity` object of a PUT or PATCH body (`requested`, untrusted JSON) to `current`.
 * Does not mutate `current`. An absent or null `requested` leaves the identity as it is.
 */
export function applyIdentityUpdate(current: ResourceIdentity, requested: unknown, mode: UpdateMode, context: IdentityUpdateContext): IdentityUpdateResult {
  const unchanged: IdentityChanges = { added: [], removed: [], systemAssigned: current.systemAssigned !== undefined ? 'kept' : 'none' };
  if (requested === undefined || requested === null) return { ok: true, identity: structuredClone(current), changes: unchanged };
  if (!isRecord(requested)) return fail(invalidRequestContent('identity must be an object'));

  const rawMap = requested['userAssignedIdentities'];
  if (rawMap !== undefined && rawMap !== null && !isRecord(rawMap)) return fail(invalidRequestContent('identity.userAssignedIdentities must be an object'));
  const map = isRecord(rawMap) ? rawMap : undefined;

  const flags = requestedFlags(requested, current, map);
  if (flags instanceof ArmError) return fail(flags);
  if (!flags.user && map !== undefined && Object.keys(map).length > 0) return fail(userAssignedMapWithoutUserAssignedType());

  let users: string[] = [];
  if (flags.user) {
    const set = requestedUserSet(current, map, mode, context);
    if (set instanceof ArmError) return fail(set);
    if (set.length === 0) return fail(missingIdentityIds());
    users = set;
  }

  const added = users.filter((id) => findKey(current.userAssignedIdentities, id) === undefined);
  const removed = current.userAssignedIdentities.filter((id) => findKey(users, id) === undefined);
  const changeCount = added.length + removed.length;
  if (changeCount > MAX_IDENTITY_CHANGES_PER_REQUEST) return fail(tooManyIdentityChanges(context.resourceId, changeCount));
  const unknown = added.find((id) => context.userAssigned(id) === undefined);
  if (unknown !== undefined) return fail(identityNotFound(context.resourceId, unknown));

  const systemAssigned = flags.system ? (current.systemAssigned ?? context.newSystemAssigned()) : undefined;
  const identity: ResourceIdentity = {
    type: identityTypeOf({ system: flags.system, user: users.length > 0 }),
    userAssignedIdentities: users,
    ...(systemAssigned !== undefined ? { systemAssigned: { ...systemAssigned } } : {}),
  };
  const systemChange: IdentityChanges['systemAssigned'] =
    systemAssigned === undefined ? (current.systemAssigned !== undefined ? 'removed' : 'none') : current.systemAssigned !== undefined ? 'kept' : 'added';
  return { ok: true, identity, changes: { added, removed, systemAssigned: systemChange } };
}
