/**
 * Which role assignments to create, given those that exist, as pure functions. An assignment is
 * identified by (principal, role, scope); its name is a GUID derived from those three, so a re-run
 * PUTs the same name (ARM answers 200 for an identical re-PUT) and two runs cannot create two
 * assignments. An equal assignment created by someone else under another name counts as present.
 * @module
 */
import { createHash } from 'node:crypto';
import { sameScope } from './resource-ids.ts';

/** One role assignment the command needs. */
export interface AssignmentSpec {
  readonly principalId: string;
  /** Full role definition ID (`…/providers/Microsoft.Authorization/roleDefinitions/<guid>`). */
  readonly roleDefinitionId: string;
  /** For messages: the role's name as the user knows it. */
  readonly roleName: string;
  readonly scope: string;
  /** Why (for the summary): e.g. `--role` or `Managed Identity Operator for the cluster`. */
  readonly purpose: string;
}

/** An existing assignment, as far as planning needs it. */
export interface ExistingAssignment {
  readonly id?: string | undefined;
  readonly name?: string | undefined;
  readonly principalId?: string | undefined;
  readonly roleDefinitionId?: string | undefined;
  readonly scope?: string | undefined;
}

export type AssignmentStep =
  | { readonly action: 'exists'; readonly spec: AssignmentSpec; readonly existingId: string | undefined }
  | { readonly action: 'create'; readonly spec: AssignmentSpec; readonly name: string };

/** The GUID at the end of a role definition ID, lower-cased (or the text itself when it is one). */
export function roleGuidOf(roleDefinitionId: string): string {
  const parts = roleDefinitionId.split('/').filter((part) => part !== '');
  return (parts[parts.length - 1] ?? roleDefinitionId).toLowerCase();
}

/** A deterministic GUID (RFC 4122 variant, version 5 layout) for (scope, role, principal). */
export function assignmentName(spec: Pick<AssignmentSpec, 'scope' | 'roleDefinitionId' | 'principalId'>): string {
  const key = `${spec.scope.replace(/\/+$/, '').toLowerCase()}|${roleGuidOf(spec.roleDefinitionId)}|${spec.principalId.toLowerCase()}`;
  const bytes = createHash('sha256').update(`pod-identity-cli:${key}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Whether `existing` is the assignment `spec` asks for (same principal, role and exact scope). */
export function satisfies(existing: ExistingAssignment, spec: AssignmentSpec): boolean {
  return (
    existing.principalId?.toLowerCase() === spec.principalId.toLowerCase() &&
    existing.roleDefinitionId !== undefined &&
    roleGuidOf(existing.roleDefinitionId) === roleGuidOf(spec.roleDefinitionId) &&
    existing.scope !== undefined &&
    sameScope(existing.scope, spec.scope)
  );
}

/** What to do for `spec` given the assignments listed at its scope for its principal. */
export function planAssignment(spec: AssignmentSpec, existing: readonly ExistingAssignment[]): AssignmentStep {
  const found = existing.find((assignment) => satisfies(assignment, spec));
  if (found !== undefined) return { action: 'exists', spec, existingId: found.id };
  return { action: 'create', spec, name: assignmentName(spec) };
}

/** Drops repeated specs (same principal, role and scope), keeping the first. */
export function uniqueSpecs(specs: readonly AssignmentSpec[]): AssignmentSpec[] {
  const result: AssignmentSpec[] = [];
  for (const spec of specs) if (!result.some((kept) => satisfies({ ...kept }, spec))) result.push(spec);
  return result;
}
