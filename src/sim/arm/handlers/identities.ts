/**
 * `Microsoft.ManagedIdentity/userAssignedIdentities` (azure-protocols.md §4.1): synchronous PUT
 * (201 created / 200 updated), PATCH (tags), GET, DELETE (200, or 204 when absent), list by resource
 * group and by subscription. A new identity gets fresh `clientId`/`principalId` GUIDs and the
 * simulated tenant.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { UserAssignedIdentity } from '../../state/model.ts';
import { authorize, listResponse, requireResourceGroup, requireSubscription, type ArmContext, type ArmRequest, type ArmResponse } from '../context.ts';
import { invalidParameter, invalidRequestContent, locationRequired, methodNotAllowed, resourceNotFound } from '../errors.ts';
import type { ArmRoute } from '../paths.ts';
import { ACTIONS } from '../rbac.ts';
import { IDENTITY_TYPE, renderUserAssignedIdentity } from '../wire/msi.ts';

type IdentitiesRoute = Extract<ArmRoute, { kind: 'userAssignedIdentities' }>;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function identityId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
}

/** `location` and `tags` of a PUT/PATCH body. */
function readBody(body: unknown): { location?: string; tags?: Record<string, string> } {
  if (body === undefined) return {};
  if (!isRecord(body)) throw invalidRequestContent('the body must be a JSON object');
  const { location, tags } = body;
  if (location !== undefined && typeof location !== 'string') throw invalidParameter('location');
  if (tags !== undefined && tags !== null && (!isRecord(tags) || !Object.values(tags).every((tag) => typeof tag === 'string'))) {
    throw invalidRequestContent('tags must be an object of strings');
  }
  return {
    ...(typeof location === 'string' ? { location } : {}),
    ...(isRecord(tags) ? { tags: { ...(tags as Record<string, string>) } } : {}),
  };
}

function put(context: ArmContext, route: { subscriptionId: string; resourceGroup: string; name: string }, request: ArmRequest): ArmResponse {
  const id = identityId(route.subscriptionId, route.resourceGroup, route.name);
  const existing = context.store.getIdentity(id);
  authorize(context, request.caller, ACTIONS.identityWrite, existing?.id ?? id);
  const body = readBody(request.body);
  if (existing !== undefined) {
    if (body.location !== undefined) existing.location = body.location;
    existing.tags = body.tags ?? {};
    return { status: 200, body: renderUserAssignedIdentity(existing) };
  }
  if (body.location === undefined || body.location === '') throw locationRequired();
  const identity: UserAssignedIdentity = {
    id,
    name: route.name,
    subscriptionId: route.subscriptionId,
    resourceGroup: route.resourceGroup,
    location: body.location,
    tags: body.tags ?? {},
    clientId: randomUUID(),
    principalId: randomUUID(),
    tenantId: context.store.tenantId,
  };
  context.store.putIdentity(identity);
  context.deps.logger.debug({ identityId: id, clientId: identity.clientId }, 'user-assigned identity created');
  return { status: 201, body: renderUserAssignedIdentity(identity) };
}

function patch(context: ArmContext, existing: UserAssignedIdentity, request: ArmRequest): ArmResponse {
  authorize(context, request.caller, ACTIONS.identityWrite, existing.id);
  const body = readBody(request.body);
  if (body.tags !== undefined) existing.tags = body.tags;
  return { status: 200, body: renderUserAssignedIdentity(existing) };
}

function remove(context: ArmContext, route: { subscriptionId: string; resourceGroup: string; name: string }, request: ArmRequest): ArmResponse {
  const existing = context.store.getIdentity(identityId(route.subscriptionId, route.resourceGroup, route.name));
  if (existing === undefined) return { status: 204 };
  authorize(context, request.caller, ACTIONS.identityDelete, existing.id);
  context.store.deleteIdentity(existing.id);
  return { status: 200 };
}

/** `…/providers/Microsoft.ManagedIdentity/userAssignedIdentities[/{name}]` */
export function handleIdentities(context: ArmContext, route: IdentitiesRoute, request: ArmRequest): ArmResponse {
  const { name, resourceGroup } = route;
  if (name === undefined || resourceGroup === undefined) {
    if (request.method !== 'GET') throw methodNotAllowed(request.method);
    if (resourceGroup === undefined) requireSubscription(context, route.subscriptionId);
    else requireResourceGroup(context, route.subscriptionId, resourceGroup);
    const identities = context.store.listIdentities({ subscriptionId: route.subscriptionId, ...(resourceGroup !== undefined ? { resourceGroup } : {}) });
    return listResponse(identities.map(renderUserAssignedIdentity));
  }
  requireResourceGroup(context, route.subscriptionId, resourceGroup);
  const item = { subscriptionId: route.subscriptionId, resourceGroup, name };
  switch (request.method) {
    case 'PUT':
      return put(context, item, request);
    case 'DELETE':
      return remove(context, item, request);
    case 'GET':
    case 'PATCH': {
      const existing = context.store.getIdentity(identityId(route.subscriptionId, resourceGroup, name));
      if (existing === undefined) throw resourceNotFound(IDENTITY_TYPE, name, resourceGroup);
      return request.method === 'GET' ? { status: 200, body: renderUserAssignedIdentity(existing) } : patch(context, existing, request);
    }
    default:
      throw methodNotAllowed(request.method);
  }
}
