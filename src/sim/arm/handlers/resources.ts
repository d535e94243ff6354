/**
 * `GET /tenants`, `GET /subscriptions[/{id}]` and `GET /subscriptions/{id}/resourceGroups[/{name}]`:
 * what the az CLI and SDKs read right after a login. With RBAC enforced, the subscription list only
 * shows subscriptions the caller holds a role in (ARM's behaviour: "No subscriptions found").
 * @module
 */
import { listResponse, requireResourceGroup, requireSubscription, type ArmContext, type ArmRequest, type ArmResponse } from '../context.ts';
import { methodNotAllowed } from '../errors.ts';
import type { ArmRoute } from '../paths.ts';
import { scopeCovers } from '../rbac.ts';
import { renderResourceGroup, renderSubscription, renderTenant } from '../wire/resources.ts';

type ResourcesRoute = Extract<ArmRoute, { kind: 'tenants' | 'subscriptions' | 'subscription' | 'resourceGroups' | 'resourceGroup' }>;

/** Where a group's resources are; real groups have their own location, the simulator borrows one. */
const DEFAULT_LOCATION = 'eastus';

function visibleSubscriptions(context: ArmContext, request: ArmRequest): string[] {
  const all = context.store.listSubscriptions();
  if (!context.deps.enforceRbac) return all;
  const mine = context.store.listRoleAssignments().filter((assignment) => assignment.principalId.toLowerCase() === request.caller.objectId.toLowerCase());
  return all.filter((subscriptionId) => mine.some((assignment) => scopeCovers(assignment.scope, `/subscriptions/${subscriptionId}`) || scopeCovers(`/subscriptions/${subscriptionId}`, assignment.scope)));
}

function groupLocation(context: ArmContext, subscriptionId: string, resourceGroup: string): string {
  const filter = { subscriptionId, resourceGroup };
  return context.store.listCompute(filter)[0]?.location ?? context.store.listIdentities(filter)[0]?.location ?? DEFAULT_LOCATION;
}

export function handleResources(context: ArmContext, route: ResourcesRoute, request: ArmRequest): ArmResponse {
  if (request.method !== 'GET') throw methodNotAllowed(request.method);
  const { tenantId } = context.store;
  switch (route.kind) {
    case 'tenants':
      return listResponse([renderTenant(tenantId)]);
    case 'subscriptions':
      return listResponse(visibleSubscriptions(context, request).map((subscriptionId) => renderSubscription(subscriptionId, tenantId)));
    case 'subscription': {
      requireSubscription(context, route.subscriptionId);
      const stored = context.store.listSubscriptions().find((id) => id.toLowerCase() === route.subscriptionId.toLowerCase()) ?? route.subscriptionId;
      return { status: 200, body: renderSubscription(stored, tenantId) };
    }
    case 'resourceGroups': {
      requireSubscription(context, route.subscriptionId);
      const groups = context.store.listResourceGroups(route.subscriptionId);
      return listResponse(groups.map((id) => renderResourceGroup(id, groupLocation(context, route.subscriptionId, id.split('/').pop() ?? ''))));
    }
    case 'resourceGroup': {
      requireResourceGroup(context, route.subscriptionId, route.resourceGroup);
      const id = context.store.listResourceGroups(route.subscriptionId).find((candidate) => candidate.toLowerCase().endsWith(`/${route.resourceGroup.toLowerCase()}`)) ?? '';
      return { status: 200, body: renderResourceGroup(id, groupLocation(context, route.subscriptionId, route.resourceGroup)) };
    }
  }
}
