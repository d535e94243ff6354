/**
 * `Microsoft.Compute` virtual machines and scale sets: GET/list, PUT (create or replace), PATCH
 * (merge) and DELETE, and scale-set instances. Writes are long-running operations: the answer shows
 * the target state with provisioningState `Updating`/`Creating` and an `Azure-AsyncOperation` URL;
 * the store changes when the operation completes, after `lroDurationMs.vm|vmss` (read per request).
 * While an operation runs the resource refuses other writes with 409.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { ComputeResource, ResourceIdentity, VirtualMachineScaleSet } from '../../state/model.ts';
import type { Caller } from '../auth.ts';
import { applyComputeChange, readComputeBody, type ComputeChange } from '../compute-changes.ts';
import { authorize, listResponse, mayPerform, requireResourceGroup, requireSubscription, type ArmContext, type ArmRequest, type ArmResponse } from '../context.ts';
import {
  concurrentOperationConflict,
  identityNotFound,
  linkedAuthorizationFailed,
  locationRequired,
  methodNotAllowed,
  resourceNotFound,
  scaleSetMarkedForDeletion,
  vmMarkedForDeletion,
  type ArmError,
} from '../errors.ts';
import { applyIdentityUpdate, requestedAdditions, type IdentityUpdateContext, type UpdateMode } from '../identity-update.ts';
import type { OperationRecord } from '../operations.ts';
import type { ArmRoute, ComputeType } from '../paths.ts';
import { ACTIONS } from '../rbac.ts';
import { renderCompute, renderScaleSetInstance, type UserAssignedLookup } from '../wire/compute.ts';
import { asyncOperationHeaders } from './operations.ts';

type ComputeRoute = Extract<ArmRoute, { kind: 'compute' }>;
type InstancesRoute = Extract<ArmRoute, { kind: 'scaleSetInstances' }>;

const kindOf = (type: ComputeType): ComputeResource['kind'] => (type === 'virtualMachines' ? 'vm' : 'vmss');
const NO_IDENTITY: ResourceIdentity = { type: 'None', userAssignedIdentities: [] };

function computeId(subscriptionId: string, resourceGroup: string, type: ComputeType, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/${type}/${name}`;
}

function notFound(type: ComputeType, name: string, resourceGroup: string): ArmError {
  return resourceNotFound(`Microsoft.Compute/${type}`, name, resourceGroup);
}

export function userAssignedLookup(context: ArmContext): UserAssignedLookup {
  return (id) => context.store.getIdentity(id);
}

/** The resource of `type` at `id`, or undefined (a VM ID never finds a scale set and vice versa). */
function findCompute(context: ArmContext, type: ComputeType, id: string): ComputeResource | undefined {
  const resource = context.store.getCompute(id);
  return resource?.kind === kindOf(type) ? resource : undefined;
}

/** Refuses writes to a resource being deleted (409 OperationNotAllowed) or busy with another operation (409 Conflict). */
function assertWritable(context: ArmContext, resource: ComputeResource): void {
  if (resource.provisioningState === 'Deleting') throw resource.kind === 'vm' ? vmMarkedForDeletion(resource.name) : scaleSetMarkedForDeletion(resource.name);
  if (context.operations.runningOn(resource.id) !== undefined) throw concurrentOperationConflict();
}

/** 403 LinkedAuthorizationFailed unless the caller may assign every identity the request adds. */
function authorizeLinkedIdentities(context: ArmContext, caller: Caller, type: ComputeType, resourceId: string, additions: readonly string[]): void {
  const denied = additions.filter((id) => !mayPerform(context, caller, ACTIONS.identityAssign, id));
  if (denied.length > 0) throw linkedAuthorizationFailed(caller, ACTIONS.computeWrite(type), resourceId, denied);
}

function identityContext(context: ArmContext, resourceId: string): IdentityUpdateContext {
  return {
    resourceId,
    userAssigned: (id) => context.store.getIdentity(id),
    newSystemAssigned: () => ({ principalId: randomUUID(), clientId: randomUUID(), tenantId: context.store.tenantId }),
  };
}

function durationMs(context: ArmContext, kind: ComputeResource['kind']): number {
  return kind === 'vm' ? context.deps.lroDurationMs.vm : context.deps.lroDurationMs.vmss;
}

/** A fresh resource for a PUT that creates one: no identity yet, provisioningState `Creating`. */
function newResource(route: ComputeRoute & { resourceGroup: string; name: string }, id: string, location: string): ComputeResource {
  const base = {
    id,
    name: route.name,
    subscriptionId: route.subscriptionId,
    resourceGroup: route.resourceGroup,
    location,
    tags: {},
    vmSize: 'Standard_DS2_v2',
    provisioningState: 'Creating' as const,
    identity: structuredClone(NO_IDENTITY),
  };
  if (route.type === 'virtualMachines') return { ...base, kind: 'vm', vmId: randomUUID() };
  const scaleSet: VirtualMachineScaleSet = { ...base, kind: 'vmss', instances: [] };
  return scaleSet;
}

/** Starts the operation that writes `change` into the resource, or marks it Failed when an added identity vanished. */
function startWrite(context: ArmContext, resource: ComputeResource, change: ComputeChange): OperationRecord {
  const { id } = resource;
  return startComputeOperation(context, resource, 'Update', () => {
    const target = context.store.getCompute(id);
    if (target === undefined) return resourceNotFound(resource.kind === 'vm' ? 'Microsoft.Compute/virtualMachines' : 'Microsoft.Compute/virtualMachineScaleSets', resource.name, resource.resourceGroup);
    // An identity deleted while the operation ran: Azure fails the whole operation and changes nothing.
    const vanished = change.addedIdentities.find((identityId) => context.store.getIdentity(identityId) === undefined);
    if (vanished !== undefined) {
      target.provisioningState = 'Failed';
      context.deps.logger.info({ resourceId: id, identityId: vanished }, 'identity deleted while being assigned: operation failed');
      return identityNotFound(target.id, vanished);
    }
    applyComputeChange(target, change);
    target.provisioningState = 'Succeeded';
    return undefined;
  });
}

/** Starts the long-running operation of a VM or scale set update or delete, recorded in the poll log. */
function startComputeOperation(context: ArmContext, resource: ComputeResource, verb: 'Update' | 'Delete', complete: () => ArmError | undefined): OperationRecord {
  const operation = context.operations.start({
    kind: `${resource.kind}${verb}`,
    subscriptionId: resource.subscriptionId,
    location: resource.location,
    resourceId: resource.id,
    durationMs: durationMs(context, resource.kind),
    complete,
  });
  context.deps.pollLog?.started(operation);
  return operation;
}

/** PUT (create or replace) and PATCH (merge). */
function write(context: ArmContext, route: ComputeRoute & { resourceGroup: string; name: string }, request: ArmRequest, mode: UpdateMode): ArmResponse {
  requireResourceGroup(context, route.subscriptionId, route.resourceGroup);
  const kind = kindOf(route.type);
  const existing = findCompute(context, route.type, computeId(route.subscriptionId, route.resourceGroup, route.type, route.name));
  if (existing === undefined && mode === 'patch') throw notFound(route.type, route.name, route.resourceGroup);
  if (existing !== undefined) assertWritable(context, existing);
  const id = existing?.id ?? computeId(route.subscriptionId, route.resourceGroup, route.type, route.name);
  authorize(context, request.caller, ACTIONS.computeWrite(route.type), id);

  const body = readComputeBody(request.body, kind);
  const current = existing?.identity ?? NO_IDENTITY;
  if (context.deps.enforceRbac) authorizeLinkedIdentities(context, request.caller, route.type, id, requestedAdditions(current, body.identity));
  const update = applyIdentityUpdate(current, body.identity, mode, identityContext(context, id));
  if (!update.ok) throw update.error;
  if (existing === undefined && body.location === undefined) throw locationRequired();

  const change: ComputeChange = {
    identity: update.identity,
    addedIdentities: update.changes.added,
    ...(body.tags !== undefined ? { tags: body.tags } : {}),
    ...(body.vmSize !== undefined ? { vmSize: body.vmSize } : {}),
    ...(body.capacity !== undefined ? { capacity: body.capacity } : {}),
  };
  const resource = existing ?? newResource(route, id, body.location ?? '');
  if (existing === undefined) context.store.putCompute(resource);
  resource.provisioningState = existing === undefined ? 'Creating' : 'Updating';
  const operation = startWrite(context, resource, change);
  context.deps.logger.debug({ resourceId: id, operationId: operation.id, mode, added: update.changes.added, removed: update.changes.removed }, 'compute write accepted');

  // The answer shows the target model, as Compute does; the store catches up when the operation ends.
  const preview = structuredClone(resource);
  applyComputeChange(preview, change);
  return {
    status: existing === undefined ? 201 : 200,
    body: renderCompute(preview, userAssignedLookup(context)),
    headers: asyncOperationHeaders(context, operation, request),
  };
}

function remove(context: ArmContext, route: ComputeRoute & { resourceGroup: string; name: string }, request: ArmRequest): ArmResponse {
  requireResourceGroup(context, route.subscriptionId, route.resourceGroup);
  const resource = findCompute(context, route.type, computeId(route.subscriptionId, route.resourceGroup, route.type, route.name));
  if (resource === undefined) return { status: 204 };
  const running = context.operations.runningOn(resource.id);
  // Retrying a delete while it runs is allowed: answer with the running operation.
  if (running !== undefined && resource.provisioningState === 'Deleting') return { status: 202, headers: asyncOperationHeaders(context, running, request, true) };
  assertWritable(context, resource);
  authorize(context, request.caller, ACTIONS.computeDelete(route.type), resource.id);
  resource.provisioningState = 'Deleting';
  const { id } = resource;
  const operation = startComputeOperation(context, resource, 'Delete', () => {
    context.store.deleteCompute(id);
    return undefined;
  });
  return { status: 202, headers: asyncOperationHeaders(context, operation, request, true) };
}

function list(context: ArmContext, route: ComputeRoute): ArmResponse {
  if (route.resourceGroup === undefined) requireSubscription(context, route.subscriptionId);
  else requireResourceGroup(context, route.subscriptionId, route.resourceGroup);
  const resources = context.store.listCompute({
    subscriptionId: route.subscriptionId,
    kind: kindOf(route.type),
    ...(route.resourceGroup !== undefined ? { resourceGroup: route.resourceGroup } : {}),
  });
  return listResponse(resources.map((resource) => renderCompute(resource, userAssignedLookup(context))));
}

/** `…/virtualMachines[/{name}]` and `…/virtualMachineScaleSets[/{name}]`. */
export function handleCompute(context: ArmContext, route: ComputeRoute, request: ArmRequest): ArmResponse {
  const { name, resourceGroup } = route;
  if (name === undefined || resourceGroup === undefined) {
    if (request.method !== 'GET') throw methodNotAllowed(request.method);
    return list(context, route);
  }
  const item = { ...route, name, resourceGroup };
  switch (request.method) {
    case 'GET': {
      requireResourceGroup(context, route.subscriptionId, resourceGroup);
      const resource = findCompute(context, route.type, computeId(route.subscriptionId, resourceGroup, route.type, name));
      if (resource === undefined) throw notFound(route.type, name, resourceGroup);
      return { status: 200, body: renderCompute(resource, userAssignedLookup(context)) };
    }
    case 'PUT':
      return write(context, item, request, 'put');
    case 'PATCH':
      return write(context, item, request, 'patch');
    case 'DELETE':
      return remove(context, item, request);
    default:
      throw methodNotAllowed(request.method);
  }
}

/** `…/virtualMachineScaleSets/{name}/virtualMachines[/{instanceId}]` (GET only). */
export function handleScaleSetInstances(context: ArmContext, route: InstancesRoute, request: ArmRequest): ArmResponse {
  if (request.method !== 'GET') throw methodNotAllowed(request.method);
  requireResourceGroup(context, route.subscriptionId, route.resourceGroup);
  const scaleSet = findCompute(context, 'virtualMachineScaleSets', computeId(route.subscriptionId, route.resourceGroup, 'virtualMachineScaleSets', route.scaleSetName));
  if (scaleSet?.kind !== 'vmss') throw notFound('virtualMachineScaleSets', route.scaleSetName, route.resourceGroup);
  if (route.instanceId === undefined) return listResponse(scaleSet.instances.map((instance) => renderScaleSetInstance(scaleSet, instance)));
  const instance = scaleSet.instances.find((candidate) => candidate.instanceId === route.instanceId);
  if (instance === undefined) throw resourceNotFound('Microsoft.Compute/virtualMachineScaleSets', `${route.scaleSetName}/virtualMachines/${route.instanceId}`, route.resourceGroup);
  return { status: 200, body: renderScaleSetInstance(scaleSet, instance) };
}
