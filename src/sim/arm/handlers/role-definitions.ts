/**
 * `{scope}/providers/Microsoft.Authorization/roleDefinitions[/{guid}]` (azure-protocols.md §4.3): the
 * built-in roles at any scope; list with `$filter=roleName eq '…'` or `type eq 'BuiltInRole'`.
 * @module
 */
import { BUILT_IN_ROLES, builtInRole } from '../built-in-roles.ts';
import { listResponse, type ArmContext, type ArmRequest, type ArmResponse } from '../context.ts';
import { methodNotAllowed, roleDefinitionDoesNotExist, unsupportedFilter } from '../errors.ts';
import { parseFilter } from '../odata-filter.ts';
import type { ArmRoute } from '../paths.ts';
import { renderRoleDefinition } from '../wire/authorization.ts';

type RoleDefinitionsRoute = Extract<ArmRoute, { kind: 'roleDefinitions' }>;

export function handleRoleDefinitions(_context: ArmContext, route: RoleDefinitionsRoute, request: ArmRequest): ArmResponse {
  if (request.method !== 'GET') throw methodNotAllowed(request.method);
  if (route.id !== undefined) {
    const role = builtInRole(route.id);
    if (role === undefined) throw roleDefinitionDoesNotExist(route.id);
    return { status: 200, body: renderRoleDefinition(role, route.scope) };
  }
  const filter = request.query.get('$filter') ?? '';
  const clauses = parseFilter(filter);
  if (clauses === undefined) throw unsupportedFilter(filter);
  const roles = BUILT_IN_ROLES.filter((role) =>
    clauses.every((clause) => {
      if (clause.kind !== 'eq') return false;
      const field = clause.field.toLowerCase();
      if (field === 'rolename') return role.roleName.toLowerCase() === clause.value.toLowerCase();
      if (field === 'type') return clause.value.toLowerCase() === 'builtinrole';
      return false;
    }),
  );
  return listResponse(roles.map((role) => renderRoleDefinition(role, route.scope)));
}
