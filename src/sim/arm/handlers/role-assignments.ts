/**
 * `{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]` (azure-protocols.md §4.2):
 * synchronous PUT with a GUID name (201; 200 for an identical re-PUT), GET, DELETE (200 with the
 * deleted assignment, 204 when absent), and list with `$filter=atScope()`, `principalId eq '…'` or
 * `assignedTo('…')`. Without `atScope()` a list covers assignments at, above and below the scope.
 * @module
 */
import type { RoleAssignment } from '../../state/model.ts';
import { builtInRole, roleGuidOf } from '../built-in-roles.ts';
import { authorize, listResponse, type ArmContext, type ArmRequest, type ArmResponse } from '../context.ts';
import {
  invalidRequestContent,
  invalidRoleAssignmentId,
  methodNotAllowed,
  principalNotFound,
  roleAssignmentExists,
  roleAssignmentNotFound,
  roleAssignmentUpdateNotPermitted,
  unknownRoleDefinitionInRequest,
  unsupportedFilter,
} from '../errors.ts';
import { parseFilter, type FilterClause } from '../odata-filter.ts';
import type { ArmRoute } from '../paths.ts';
import { ACTIONS, scopeCovers } from '../rbac.ts';
import { authorizationId, renderRoleAssignment } from '../wire/authorization.ts';

type RoleAssignmentsRoute = Extract<ArmRoute, { kind: 'roleAssignments' }>;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** `properties` of a PUT body. */
function readProperties(body: unknown): { roleDefinitionId: string; principalId: string; principalType: string; description?: string } {
  const properties = isRecord(body) ? body['properties'] : undefined;
  if (!isRecord(properties)) throw invalidRequestContent('properties is required');
  const { roleDefinitionId, principalId, principalType, description } = properties;
  if (typeof roleDefinitionId !== 'string' || roleDefinitionId === '') throw invalidRequestContent('properties.roleDefinitionId is required');
  if (typeof principalId !== 'string' || principalId === '') throw invalidRequestContent('properties.principalId is required');
  return {
    roleDefinitionId,
    principalId,
    principalType: typeof principalType === 'string' ? principalType : 'ServicePrincipal',
    ...(typeof description === 'string' ? { description } : {}),
  };
}

function put(context: ArmContext, scope: string, name: string, request: ArmRequest): ArmResponse {
  if (!GUID.test(name)) throw invalidRoleAssignmentId(name);
  const id = authorizationId(scope, 'roleAssignments', name);
  authorize(context, request.caller, ACTIONS.roleAssignmentWrite, scope);
  const properties = readProperties(request.body);
  const roleGuid = roleGuidOf(properties.roleDefinitionId);
  if (builtInRole(roleGuid) === undefined) throw unknownRoleDefinitionInRequest(roleGuid);

  const existing = context.store.getRoleAssignment(id);
  const samePrincipalRoleScope = (assignment: RoleAssignment): boolean =>
    same(assignment.principalId, properties.principalId) && same(roleGuidOf(assignment.roleDefinitionId), roleGuid) && same(assignment.scope, scope);
  if (existing !== undefined) {
    if (!samePrincipalRoleScope(existing)) throw roleAssignmentUpdateNotPermitted();
    return { status: 200, body: renderRoleAssignment(existing) };
  }
  if (context.store.listRoleAssignments().some(samePrincipalRoleScope)) throw roleAssignmentExists();
  if (!context.store.principalExists(properties.principalId)) throw principalNotFound(properties.principalId, context.store.tenantId);

  const assignment: RoleAssignment = {
    id,
    name,
    scope,
    roleDefinitionId: properties.roleDefinitionId,
    principalId: properties.principalId,
    principalType: properties.principalType,
    createdOn: new Date(context.clock.now()).toISOString(),
    ...(properties.description !== undefined ? { description: properties.description } : {}),
  };
  context.store.putRoleAssignment(assignment);
  return { status: 201, body: renderRoleAssignment(assignment) };
}

/** Whether `assignment` passes one `$filter` clause for a list at `scope`. */
function passes(assignment: RoleAssignment, clause: FilterClause, scope: string): boolean {
  switch (clause.kind) {
    case 'atScope':
      return scopeCovers(assignment.scope, scope);
    case 'assignedTo':
      return same(assignment.principalId, clause.value);
    case 'eq':
      return clause.field.toLowerCase() === 'principalid' && same(assignment.principalId, clause.value);
  }
}

function list(context: ArmContext, scope: string, request: ArmRequest): ArmResponse {
  const filter = request.query.get('$filter') ?? '';
  const clauses = parseFilter(filter);
  if (clauses === undefined || clauses.some((clause) => clause.kind === 'eq' && clause.field.toLowerCase() !== 'principalid')) throw unsupportedFilter(filter);
  const related = (assignment: RoleAssignment): boolean => scopeCovers(assignment.scope, scope) || scopeCovers(scope, assignment.scope);
  const assignments = context.store.listRoleAssignments().filter((assignment) => related(assignment) && clauses.every((clause) => passes(assignment, clause, scope)));
  return listResponse(assignments.map(renderRoleAssignment));
}

export function handleRoleAssignments(context: ArmContext, route: RoleAssignmentsRoute, request: ArmRequest): ArmResponse {
  const { name, scope } = route;
  if (name === undefined) {
    if (request.method !== 'GET') throw methodNotAllowed(request.method);
    return list(context, scope, request);
  }
  switch (request.method) {
    case 'PUT':
      return put(context, scope, name, request);
    case 'GET': {
      const assignment = context.store.getRoleAssignment(authorizationId(scope, 'roleAssignments', name));
      if (assignment === undefined) throw roleAssignmentNotFound();
      return { status: 200, body: renderRoleAssignment(assignment) };
    }
    case 'DELETE': {
      const assignment = context.store.getRoleAssignment(authorizationId(scope, 'roleAssignments', name));
      if (assignment === undefined) return { status: 204 };
      authorize(context, request.caller, ACTIONS.roleAssignmentDelete, scope);
      context.store.deleteRoleAssignment(assignment.id);
      return { status: 200, body: renderRoleAssignment(assignment) };
    }
    default:
      throw methodNotAllowed(request.method);
  }
}
