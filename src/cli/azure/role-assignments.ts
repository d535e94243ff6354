/**
 * Role assignments through `@azure/arm-authorization`: resolving `--role` (a built-in or custom
 * role's name, its GUID, or its full ID) and making sure an assignment exists — listing first, then
 * creating it under a deterministic name; `RoleAssignmentExists` counts as success, and
 * `PrincipalNotFound` for a freshly created principal is waited out (Entra ID replication).
 * @module
 */
import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import { UsageError } from '../command.ts';
import type { Progress } from '../shared/progress.ts';
import { armCodeOf, describedCall, explainArmError } from './arm-error.ts';
import { retryWhilePrincipalMissing, type PrincipalWaitOptions } from './principal-wait.ts';
import { isGuid } from './resource-ids.ts';
import { planAssignment, roleGuidOf, type AssignmentSpec, type ExistingAssignment } from './role-assignment-plan.ts';

/** Roles that may write role assignments (for "missing permission" messages). */
export const ASSIGNMENT_WRITER_ROLES: readonly string[] = ['User Access Administrator', 'Role Based Access Control Administrator', 'Owner'];

export interface ResolvedRole {
  readonly id: string;
  readonly name: string;
}

export interface AssignmentResult {
  readonly spec: AssignmentSpec;
  readonly status: 'created' | 'exists';
  readonly name: string | undefined;
}

/** How `--role` was written. */
export type RoleReference = { readonly kind: 'guid'; readonly guid: string } | { readonly kind: 'name'; readonly name: string };

export function parseRoleReference(text: string): RoleReference {
  const trimmed = text.trim();
  if (/\/roleDefinitions\//i.test(trimmed)) {
    const guid = roleGuidOf(trimmed);
    if (!isGuid(guid)) throw new UsageError(`--role ${JSON.stringify(text)}: a role definition ID must end in a GUID`);
    return { kind: 'guid', guid };
  }
  if (isGuid(trimmed)) return { kind: 'guid', guid: trimmed.toLowerCase() };
  if (trimmed === '' || trimmed.includes("'")) throw new UsageError(`--role ${JSON.stringify(text)}: expected a role name, GUID or role definition ID`);
  return { kind: 'name', name: trimmed };
}

/** The role definition behind `text`, as seen at `scope`; a role that does not exist is a usage error. */
export async function resolveRole(client: AuthorizationManagementClient, text: string, scope: string): Promise<ResolvedRole> {
  const reference = parseRoleReference(text);
  const call = { action: `read role definition ${JSON.stringify(text)} at ${scope}`, neededRoles: ['Reader'], scope };
  if (reference.kind === 'guid') {
    try {
      const role = await client.roleDefinitions.get(scope, reference.guid);
      return { id: role.id ?? reference.guid, name: role.roleName ?? reference.guid };
    } catch (error) {
      const code = armCodeOf(error)?.toLowerCase();
      if (code === 'roledefinitiondoesnotexist' || code === 'notfound') throw new UsageError(`--role ${JSON.stringify(text)}: no such role definition at ${scope}`, { cause: error });
      throw explainArmError(error, call);
    }
  }
  const found = await describedCall(call, async () => {
    const roles = [];
    for await (const role of client.roleDefinitions.list(scope, { filter: `roleName eq '${reference.name}'` })) roles.push(role);
    return roles;
  });
  const role = found.find((candidate) => candidate.roleName?.toLowerCase() === reference.name.toLowerCase()) ?? found[0];
  if (role?.id === undefined) throw new UsageError(`--role ${JSON.stringify(text)}: no role named so at ${scope} (give the exact role name, e.g. "Storage Blob Data Reader", or its GUID)`);
  return { id: role.id, name: role.roleName ?? reference.name };
}

export interface EnsureOptions extends Omit<PrincipalWaitOptions, 'onWait'> {
  readonly progress: Progress;
}

/** Makes sure `spec` is assigned; idempotent. */
export async function ensureRoleAssignment(client: AuthorizationManagementClient, spec: AssignmentSpec, options: EnsureOptions): Promise<AssignmentResult> {
  const listCall = { action: `list role assignments at ${spec.scope}`, neededRoles: ['Reader'], scope: spec.scope };
  const existing = await describedCall(listCall, async () => {
    const found: ExistingAssignment[] = [];
    for await (const assignment of client.roleAssignments.listForScope(spec.scope, { filter: `principalId eq '${spec.principalId}'` })) found.push(assignment);
    return found;
  });
  const step = planAssignment(spec, existing);
  if (step.action === 'exists') return { spec, status: 'exists', name: step.existingId };
  const call = { action: `assign role "${spec.roleName}" to principal ${spec.principalId} at ${spec.scope}`, neededRoles: ASSIGNMENT_WRITER_ROLES, scope: spec.scope };
  try {
    await retryWhilePrincipalMissing(
      () => client.roleAssignments.create(spec.scope, step.name, { roleDefinitionId: spec.roleDefinitionId, principalId: spec.principalId, principalType: 'ServicePrincipal' }),
      {
        ...options,
        onWait: (attempt, waitedMs, nextMs) => {
          options.progress.update(`principal ${spec.principalId} not replicated yet (Entra ID), attempt ${attempt}, retrying in ${Math.round(nextMs / 1000)}s, waited ${Math.round(waitedMs / 1000)}s`);
        },
      },
    );
  } catch (error) {
    if (armCodeOf(error)?.toLowerCase() === 'roleassignmentexists') return { spec, status: 'exists', name: undefined };
    throw explainArmError(error, call);
  }
  return { spec, status: 'created', name: step.name };
}
