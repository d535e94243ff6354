/**
 * The plan for one VM or scale set: which AzureAssignedIdentities to create, update, unassign and
 * delete, and which user-assigned identities to add to or remove from the target in one ARM write.
 * Pure, as are the decisions around the ARM wave beside it (wave-gate.ts before it, outcome.ts after
 * it); the executor (reconcile-target.ts) carries them out.
 *
 * Rules beyond upstream (docs/mic.md says what differs from upstream and why):
 * - An AAI that is no longer desired is first marked `Unassigned` (NMIs stop serving it at once) and
 *   stays as the record of a pending removal for `gracePeriodMs`; only then is the identity removed
 *   from the target, so a rolling update that brings a new pod with the same identity causes no
 *   remove/add churn (the identity is still needed, the old AAI is just deleted).
 * - An identity that was already on the target before MIC first needed it (`preexisting`) is never
 *   removed, nor are immutable identities (`--immutable-user-msis`, the cluster identity).
 * - An identity still needed by another pod anywhere on the target (all nodes of a scale set) stays;
 *   "needed" compares pod namespace and name (upstream compared names only).
 * - Identity and resource IDs are compared case-insensitively.
 * @module
 */
import { AssignedIdentityState, effectiveAssignedState, needsNodeAssignment, PREEXISTING_ANNOTATION, UNASSIGNED_AT_ANNOTATION, type AzureAssignedIdentity } from '../api/index.ts';
import { objectKey, type DesiredAssignment } from './model.ts';

export interface TargetPlanInput {
  /** Desired assignments whose pod runs on a node of this target. */
  readonly desiredOnTarget: readonly DesiredAssignment[];
  /** Keys (`namespace/name`) of every desired assignment in the cluster. */
  readonly desiredKeys: ReadonlySet<string>;
  /** Existing AAIs whose `spec.nodename` is a node of this target. */
  readonly currentOnTarget: readonly AzureAssignedIdentity[];
  /** Lower-cased user-assigned identity IDs on the target now (from ARM). */
  readonly onTarget: ReadonlySet<string>;
  /** Lower-cased client IDs and/or resource IDs never to remove. */
  readonly immutable: ReadonlySet<string>;
  readonly gracePeriodMs: number;
  readonly now: number;
}

/** An AAI to create or bring up to date. */
export interface AssignmentWrite {
  readonly desired: DesiredAssignment;
  /** The existing object to update; undefined to create. */
  readonly current: AzureAssignedIdentity | undefined;
  /** True when the identity was on the target before MIC needed it (recorded on the AAI). */
  readonly preexisting: boolean;
}

export interface TargetPlan {
  /** AAIs to create or update (written in state Created). */
  readonly writes: readonly AssignmentWrite[];
  /** Desired AAIs that exist, are up to date and only need their state moved to Assigned. */
  readonly toMarkAssigned: readonly AzureAssignedIdentity[];
  /** AAIs no longer desired: mark Unassigned now, remove later. */
  readonly toUnassign: readonly AzureAssignedIdentity[];
  /** Lower-cased identity IDs to add to the target. */
  readonly identitiesToAdd: readonly string[];
  /** Lower-cased identity IDs to remove from the target (grace over, owned, mutable, unneeded). */
  readonly identitiesToRemove: readonly string[];
  /** AAIs someone asked to delete (deletion timestamp set): release them first, recreate if desired. */
  readonly releaseFirst: readonly AzureAssignedIdentity[];
  /** Unassigned AAIs to delete now (nothing to remove from Azure for them). */
  readonly deleteNow: readonly AzureAssignedIdentity[];
  /** Unassigned AAIs to delete once `identitiesToRemove` succeeded. */
  readonly deleteAfterRemoval: readonly AzureAssignedIdentity[];
  /** Earliest time (ms) a pending removal's grace period ends; undefined when none is pending. */
  readonly nextGraceDeadline: number | undefined;
}

/** Stable JSON for comparing specs regardless of key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonical(entry)}`).join(',')}}`;
  }
  return value === undefined ? 'null' : JSON.stringify(value);
}

/**
 * `value` without fields holding Go's zero values (`''`, `0`, `false`, `null`, `[]`, `{}`), recursively.
 * Upstream's MIC embeds the identity and binding as Go structs: zero fields are dropped (`omitempty`:
 * no `type` for type 0, no empty `tenantID`) or written empty (`clientPassword: {}`), so its AAIs say
 * the same as ours only when zero values count as absent. Without this, our MIC rewrote every AAI it
 * took over from upstream's (a PUT each, new resourceVersions; test/integration/upstream/handover.test.ts).
 */
export function withoutZeroValues(value: unknown): unknown {
  // Go keeps the elements of a non-empty slice, zero or not.
  if (Array.isArray(value)) return value.length === 0 ? undefined : (value as unknown[]).map((item) => withoutZeroValues(item) ?? item);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .map(([key, entry]) => [key, withoutZeroValues(entry)] as const)
      .filter(([, entry]) => entry !== undefined);
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }
  return value === '' || value === 0 || value === false || value === null ? undefined : value;
}

/** Specs compared as upstream's Go structs would carry them (see {@link withoutZeroValues}). */
function sameSpec(a: unknown, b: unknown): boolean {
  return canonical(withoutZeroValues(a)) === canonical(withoutZeroValues(b));
}

/** Whether an existing AAI already says what `desired` says (pod, node, identity and binding content). */
export function assignmentMatches(current: AzureAssignedIdentity, desired: DesiredAssignment): boolean {
  const { spec } = current;
  const identity = spec.azureIdentityRef;
  const binding = spec.azureBindingRef;
  return (
    spec.pod === desired.podName &&
    spec.podNamespace === desired.podNamespace &&
    spec.nodename === desired.nodeName &&
    identity !== undefined &&
    binding !== undefined &&
    identity.metadata.name === desired.identity.metadata.name &&
    identity.metadata.namespace === desired.identity.metadata.namespace &&
    canonical(identity.metadata.annotations ?? {}) === canonical(desired.identity.metadata.annotations ?? {}) &&
    sameSpec(identity.spec, desired.identity.spec) &&
    binding.metadata.name === desired.binding.metadata.name &&
    binding.metadata.namespace === desired.binding.metadata.namespace &&
    sameSpec(binding.spec, desired.binding.spec)
  );
}

/** Lower-cased resource ID of an AAI's identity when it is assigned to nodes (type 0); undefined otherwise. */
export function assignedResourceIdKey(assigned: AzureAssignedIdentity): string | undefined {
  const identity = assigned.spec.azureIdentityRef;
  if (identity === undefined || !needsNodeAssignment(identity.spec.type)) return undefined;
  const id = identity.spec.resourceID;
  return id === undefined || id === '' ? undefined : id.toLowerCase();
}

function isImmutable(assigned: AzureAssignedIdentity, immutable: ReadonlySet<string>): boolean {
  const identity = assigned.spec.azureIdentityRef;
  const clientId = identity?.spec.clientID?.toLowerCase();
  const resourceId = assignedResourceIdKey(assigned);
  return (clientId !== undefined && immutable.has(clientId)) || (resourceId !== undefined && immutable.has(resourceId));
}

function unassignedAt(assigned: AzureAssignedIdentity): number | undefined {
  const raw = assigned.metadata.annotations?.[UNASSIGNED_AT_ANNOTATION];
  if (raw === undefined) return undefined;
  const time = Date.parse(raw);
  return Number.isNaN(time) ? undefined : time;
}

/** Plans one target. */
export function planTarget(input: TargetPlanInput): TargetPlan {
  const { desiredOnTarget, desiredKeys, onTarget, immutable, gracePeriodMs, now } = input;
  // An AAI being deleted by someone else is let go (our finalizer removed); if it is still desired it is
  // created again. Upstream left such objects Terminating for as long as the pod lived.
  const releaseFirst = input.currentOnTarget.filter((assigned) => assigned.metadata.deletionTimestamp != null);
  const currentOnTarget = input.currentOnTarget.filter((assigned) => assigned.metadata.deletionTimestamp == null);
  const currentByKey = new Map(currentOnTarget.map((assigned) => [objectKey(assigned.metadata.namespace ?? '', assigned.metadata.name ?? ''), assigned]));

  // Identities needed on this target, and whether MIC owns them (per the AAIs that exist for them).
  const needed = new Set<string>();
  for (const desired of desiredOnTarget) if (desired.resourceIdKey !== undefined) needed.add(desired.resourceIdKey);
  const preexistingIds = new Set<string>();
  const knownIds = new Set<string>();
  // Terminating AAIs count too: they still record whether MIC owns the identity, and one a user
  // deleted is recreated below with the ownership it had (not taken for preexisting).
  for (const assigned of input.currentOnTarget) {
    const id = assignedResourceIdKey(assigned);
    if (id === undefined) continue;
    knownIds.add(id);
    if (assigned.metadata.annotations?.[PREEXISTING_ANNOTATION] === 'true') preexistingIds.add(id);
  }

  const writes: AssignmentWrite[] = [];
  const toMarkAssigned: AzureAssignedIdentity[] = [];
  const identitiesToAdd = new Set<string>();
  /** IDs an AAI is rewritten away from (its AzureIdentity now names another resource ID). */
  const replacedIds = new Set<string>();
  for (const desired of desiredOnTarget) {
    const current = currentByKey.get(objectKey(desired.namespace, desired.name));
    const id = desired.resourceIdKey;
    if (id !== undefined && !onTarget.has(id)) identitiesToAdd.add(id);
    const state = current === undefined ? undefined : effectiveAssignedState(current.status?.status);
    if (current !== undefined && state !== AssignedIdentityState.Unassigned && assignmentMatches(current, desired)) {
      if (state === AssignedIdentityState.Created) toMarkAssigned.push(current);
      continue;
    }
    // New AAIs for an identity MIC has no record of, that is already on the target, are preexisting;
    // otherwise they inherit what the existing AAIs for that identity recorded.
    const preexisting = id !== undefined && (preexistingIds.has(id) || (!knownIds.has(id) && onTarget.has(id)));
    writes.push({ desired, current, preexisting });
    const previousId = current === undefined ? undefined : assignedResourceIdKey(current);
    if (current !== undefined && previousId !== undefined && previousId !== id && !isImmutable(current, immutable)) replacedIds.add(previousId);
  }

  const toUnassign: AzureAssignedIdentity[] = [];
  const deleteNow: AzureAssignedIdentity[] = [];
  const deleteAfterRemoval: AzureAssignedIdentity[] = [];
  const identitiesToRemove = new Set<string>();
  let nextGraceDeadline: number | undefined;
  // Pending removals grouped by identity: an identity goes only when all its leftover AAIs are past grace.
  const leftovers = new Map<string, AzureAssignedIdentity[]>();
  for (const assigned of currentOnTarget) {
    const key = objectKey(assigned.metadata.namespace ?? '', assigned.metadata.name ?? '');
    if (desiredKeys.has(key)) continue;
    const state = effectiveAssignedState(assigned.status?.status);
    if (state !== AssignedIdentityState.Unassigned) {
      toUnassign.push(assigned);
      continue;
    }
    const id = assignedResourceIdKey(assigned);
    if (id === undefined || needed.has(id) || !onTarget.has(id) || preexistingIds.has(id) || isImmutable(assigned, immutable)) {
      deleteNow.push(assigned);
      continue;
    }
    const group = leftovers.get(id);
    if (group === undefined) leftovers.set(id, [assigned]);
    else group.push(assigned);
  }
  // The rewritten AAI no longer records the ID it named: remove that ID now (as upstream does with the
  // "before" copy of an updated AAI) unless something else needs or protects it; pending leftovers of
  // that ID (and AAIs being unassigned now) keep their own grace period.
  const unassigning = new Set(toUnassign.map(assignedResourceIdKey));
  for (const id of replacedIds) {
    if (!needed.has(id) && onTarget.has(id) && !preexistingIds.has(id) && !leftovers.has(id) && !unassigning.has(id)) identitiesToRemove.add(id);
  }
  for (const [id, group] of leftovers) {
    // An AAI without the timestamp (written by another MIC) counts as unassigned just now.
    const deadline = Math.max(...group.map((assigned) => (unassignedAt(assigned) ?? now) + gracePeriodMs));
    if (deadline <= now) {
      identitiesToRemove.add(id);
      deleteAfterRemoval.push(...group);
    } else {
      nextGraceDeadline = Math.min(nextGraceDeadline ?? deadline, deadline);
    }
  }
  // AAIs being unassigned now start a grace period too.
  if (toUnassign.some((assigned) => assignedResourceIdKey(assigned) !== undefined)) {
    nextGraceDeadline = Math.min(nextGraceDeadline ?? now + gracePeriodMs, now + gracePeriodMs);
  }

  return {
    writes,
    toMarkAssigned,
    toUnassign,
    releaseFirst,
    identitiesToAdd: [...identitiesToAdd].sort(),
    identitiesToRemove: [...identitiesToRemove].sort(),
    deleteNow,
    deleteAfterRemoval,
    nextGraceDeadline,
  };
}
