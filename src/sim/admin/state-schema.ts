/**
 * Validation of a whole simulator state (admin `PUT /state`, the CLI's state file). Every top-level
 * list is optional, and fields Azure would generate (client/principal/VM IDs, locations, computer
 * names…) may be left out: they get the same defaults as seeds. Ill-typed fields are errors, listed
 * all at once with their paths (`identities[1].clientId: …`).
 * @module
 */
import { randomUUID } from 'node:crypto';
import type {
  ComputeResourceBase,
  ResourceIdentity,
  ResourceIdentityType,
  RoleAssignment,
  ScaleSetInstance,
  ServicePrincipal,
  SimStateData,
  UserAssignedIdentity,
  VirtualMachine,
  VirtualMachineScaleSet,
} from '../state/model.ts';
import { readFederatedCredentials } from './federated-credential-fields.ts';
import { Fields, GUID, InvalidInputError, NAME } from './fields.ts';
import { IDENTITY_ID, parseResourceId, RESOURCE_GROUP_ID } from './resource-ids.ts';
import { DEFAULT_LOCATION, DEFAULT_VM_SIZE, identityResourceId, computeResourceId, identityType, vmssComputerName } from './seeds.ts';

const IDENTITY_TYPES: readonly ResourceIdentityType[] = ['None', 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned'];
const PROVISIONING_STATES = ['Succeeded', 'Updating', 'Creating', 'Deleting', 'Failed'] as const;
const ROLE_ASSIGNMENT_SEPARATOR = /\/providers\/Microsoft\.Authorization\/roleAssignments\//i;

/** Subscription, group and name from `id`, or from the separate fields; checks they agree. */
function locate(f: Fields, expectedType: string): { id: string; subscriptionId: string; resourceGroup: string; name: string } | undefined {
  const id = f.string('id');
  const subscriptionId = f.string('subscriptionId', NAME, 'a subscription ID');
  const resourceGroup = f.string('resourceGroup', NAME, 'a resource group name');
  const name = f.string('name', NAME, 'a name');
  if (id !== undefined) {
    const parsed = parseResourceId(id);
    if (parsed?.type.toLowerCase() !== expectedType.toLowerCase()) {
      f.problem('id', `${JSON.stringify(id)} is not a ${expectedType} resource ID`);
      return undefined;
    }
    for (const [field, given, fromId] of [
      ['subscriptionId', subscriptionId, parsed.subscriptionId],
      ['resourceGroup', resourceGroup, parsed.resourceGroup],
      ['name', name, parsed.name],
    ] as const) {
      if (given !== undefined && given.toLowerCase() !== fromId.toLowerCase()) f.problem(field, `${JSON.stringify(given)} disagrees with id (${JSON.stringify(fromId)})`);
    }
    return { id, subscriptionId: parsed.subscriptionId, resourceGroup: parsed.resourceGroup, name: parsed.name };
  }
  if (subscriptionId === undefined || resourceGroup === undefined || name === undefined) {
    f.problem('id', 'give id, or subscriptionId + resourceGroup + name');
    return undefined;
  }
  return { id: '', subscriptionId, resourceGroup, name };
}

function readIdentity(f: Fields, tenantId: string): UserAssignedIdentity | undefined {
  f.onlyKnown(['id', 'name', 'subscriptionId', 'resourceGroup', 'location', 'tags', 'clientId', 'principalId', 'tenantId', 'federatedIdentityCredentials']);
  const where = locate(f, 'Microsoft.ManagedIdentity/userAssignedIdentities');
  const location = f.string('location') ?? DEFAULT_LOCATION;
  const tags = f.stringRecord('tags') ?? {};
  const clientId = f.guid('clientId') ?? randomUUID();
  const principalId = f.guid('principalId') ?? randomUUID();
  const identityTenant = f.string('tenantId') ?? tenantId;
  const credentials = readFederatedCredentials(f);
  if (where === undefined) return undefined;
  const id = where.id || identityResourceId(where.subscriptionId, where.resourceGroup, where.name);
  return {
    id,
    name: where.name,
    subscriptionId: where.subscriptionId,
    resourceGroup: where.resourceGroup,
    location,
    tags,
    clientId,
    principalId,
    tenantId: identityTenant,
    ...(credentials !== undefined && credentials.length > 0 ? { federatedIdentityCredentials: credentials } : {}),
  };
}

function readResourceIdentity(f: Fields, tenantId: string): ResourceIdentity {
  if (!f.has('identity')) return { type: 'None', userAssignedIdentities: [] };
  const problems = f.problems;
  const inner = Fields.of(f.input['identity'], `${f.path}.identity`, problems);
  if (inner === undefined) return { type: 'None', userAssignedIdentities: [] };
  inner.onlyKnown(['type', 'systemAssigned', 'userAssignedIdentities']);
  const userAssignedIdentities = inner.stringArray('userAssignedIdentities', IDENTITY_ID, 'a user-assigned identity resource ID') ?? [];
  let systemAssigned: ResourceIdentity['systemAssigned'];
  if (inner.has('systemAssigned')) {
    const system = Fields.of(inner.input['systemAssigned'], `${inner.path}.systemAssigned`, problems);
    if (system !== undefined) {
      system.onlyKnown(['principalId', 'clientId', 'tenantId']);
      systemAssigned = { principalId: system.guid('principalId') ?? randomUUID(), clientId: system.guid('clientId') ?? randomUUID(), tenantId: system.string('tenantId') ?? tenantId };
    }
  }
  const rawType = inner.string('type');
  let type = identityType(systemAssigned !== undefined, userAssignedIdentities.length);
  if (rawType !== undefined) {
    // ARM compares identity types case-insensitively and accepts the comma without a space.
    const canonical = IDENTITY_TYPES.find((candidate) => candidate.replace(' ', '').toLowerCase() === rawType.replace(/\s/g, '').toLowerCase());
    if (canonical === undefined) inner.problem('type', `must be one of ${IDENTITY_TYPES.join(' | ')}`);
    else type = canonical;
  }
  if (type.includes('SystemAssigned') && systemAssigned === undefined) systemAssigned = { principalId: randomUUID(), clientId: randomUUID(), tenantId };
  return { type, ...(systemAssigned !== undefined && type.includes('SystemAssigned') ? { systemAssigned } : {}), userAssignedIdentities };
}

function readComputeBase(f: Fields, kind: 'vm' | 'vmss', tenantId: string): ComputeResourceBase | undefined {
  const kindField = f.string('kind');
  if (kindField !== undefined && kindField !== kind) f.problem('kind', `must be ${JSON.stringify(kind)} in this list`);
  const where = locate(f, kind === 'vm' ? 'Microsoft.Compute/virtualMachines' : 'Microsoft.Compute/virtualMachineScaleSets');
  const location = f.string('location') ?? DEFAULT_LOCATION;
  const tags = f.stringRecord('tags') ?? {};
  const vmSize = f.string('vmSize') ?? DEFAULT_VM_SIZE;
  const state = f.string('provisioningState');
  const provisioningState = PROVISIONING_STATES.find((candidate) => candidate === state);
  if (state !== undefined && provisioningState === undefined) f.problem('provisioningState', `must be one of ${PROVISIONING_STATES.join(', ')}`);
  const identity = readResourceIdentity(f, tenantId);
  if (where === undefined) return undefined;
  return {
    id: where.id || computeResourceId(kind, where.subscriptionId, where.resourceGroup, where.name),
    name: where.name,
    subscriptionId: where.subscriptionId,
    resourceGroup: where.resourceGroup,
    location,
    tags,
    vmSize,
    provisioningState: provisioningState ?? 'Succeeded',
    identity,
  };
}

function readVm(f: Fields, tenantId: string): VirtualMachine | undefined {
  f.onlyKnown(['kind', 'id', 'name', 'subscriptionId', 'resourceGroup', 'location', 'tags', 'vmSize', 'provisioningState', 'identity', 'vmId']);
  const vmId = f.guid('vmId') ?? randomUUID();
  const base = readComputeBase(f, 'vm', tenantId);
  return base === undefined ? undefined : { ...base, kind: 'vm', vmId };
}

function readScaleSet(f: Fields, tenantId: string): VirtualMachineScaleSet | undefined {
  f.onlyKnown(['kind', 'id', 'name', 'subscriptionId', 'resourceGroup', 'location', 'tags', 'vmSize', 'provisioningState', 'identity', 'instances']);
  const base = readComputeBase(f, 'vmss', tenantId);
  const name = base?.name ?? '';
  const instances =
    f.objects('instances', (instance): ScaleSetInstance | undefined => {
      instance.onlyKnown(['instanceId', 'computerName', 'vmId']);
      const instanceId = instance.requiredString('instanceId', /^\d+$/, 'a decimal instance ID');
      const index = Number(instanceId);
      return {
        instanceId,
        computerName: instance.string('computerName', NAME, 'a computer name') ?? vmssComputerName(name, Number.isSafeInteger(index) ? index : 0),
        vmId: instance.guid('vmId') ?? randomUUID(),
      };
    }) ?? [];
  return base === undefined ? undefined : { ...base, kind: 'vmss', instances };
}

function readServicePrincipal(f: Fields, tenantId: string): ServicePrincipal | undefined {
  f.onlyKnown(['appId', 'objectId', 'tenantId', 'displayName', 'secrets', 'certificatesPem']);
  const appId = f.guid('appId') ?? randomUUID();
  return {
    appId,
    objectId: f.guid('objectId') ?? randomUUID(),
    tenantId: f.string('tenantId') ?? tenantId,
    displayName: f.string('displayName') ?? `sp-${appId.slice(0, 8)}`,
    secrets: f.stringArray('secrets') ?? [],
    certificatesPem: f.stringArray('certificatesPem', /-----BEGIN CERTIFICATE-----/, 'a PEM certificate') ?? [],
  };
}

function readRoleAssignment(f: Fields): RoleAssignment | undefined {
  f.onlyKnown(['id', 'name', 'scope', 'roleDefinitionId', 'principalId', 'principalType', 'createdOn', 'description']);
  const id = f.string('id');
  let scope = f.string('scope', /^\//, 'an ARM scope starting with /');
  let name = f.string('name', GUID, 'a GUID');
  if (id !== undefined) {
    const [idScope, idName, ...rest] = id.split(ROLE_ASSIGNMENT_SEPARATOR);
    if (idScope === undefined || idName === undefined || rest.length > 0 || !GUID.test(idName)) f.problem('id', 'must be <scope>/providers/Microsoft.Authorization/roleAssignments/<guid>');
    else {
      scope ??= idScope === '' ? '/' : idScope;
      name ??= idName;
    }
  }
  const roleDefinitionId = f.requiredString('roleDefinitionId', /\/providers\/Microsoft\.Authorization\/roleDefinitions\/[^/]+$/i, 'a role definition ID');
  const principalId = f.requiredString('principalId', GUID, 'a GUID');
  const principalType = f.string('principalType') ?? 'ServicePrincipal';
  const createdOn = f.string('createdOn') ?? new Date().toISOString();
  const description = f.string('description');
  if (scope === undefined) {
    if (id === undefined) f.problem('scope', 'give scope (or id)');
    return undefined;
  }
  name ??= randomUUID();
  return {
    id: id ?? `${scope.replace(/\/+$/, '')}/providers/Microsoft.Authorization/roleAssignments/${name}`,
    name,
    scope,
    roleDefinitionId,
    principalId,
    principalType,
    createdOn,
    ...(description !== undefined ? { description } : {}),
  };
}

/**
 * Checks an untrusted state document and fills generated fields; throws {@link InvalidInputError}
 * listing every problem. `tenantId` is the tenant for records that do not name one.
 */
export function parseStateData(input: unknown, tenantId: string): Partial<SimStateData> {
  const problems: string[] = [];
  const f = Fields.of(input, '', problems);
  if (f === undefined) throw new InvalidInputError('invalid state', problems);
  f.onlyKnown(['tenantId', 'subscriptions', 'resourceGroups', 'identities', 'virtualMachines', 'scaleSets', 'servicePrincipals', 'roleAssignments']);
  const stateTenant = f.string('tenantId') ?? tenantId;
  const subscriptions = f.stringArray('subscriptions', NAME, 'a subscription ID');
  const resourceGroups = f.stringArray('resourceGroups', RESOURCE_GROUP_ID, 'a resource group ID (/subscriptions/<sub>/resourceGroups/<rg>)');
  const identities = f.objects('identities', (item) => readIdentity(item, stateTenant));
  const virtualMachines = f.objects('virtualMachines', (item) => readVm(item, stateTenant));
  const scaleSets = f.objects('scaleSets', (item) => readScaleSet(item, stateTenant));
  const servicePrincipals = f.objects('servicePrincipals', (item) => readServicePrincipal(item, stateTenant));
  const roleAssignments = f.objects('roleAssignments', readRoleAssignment);
  if (problems.length > 0) throw new InvalidInputError('invalid state', problems);
  return {
    ...(f.has('tenantId') ? { tenantId: stateTenant } : {}),
    ...(subscriptions !== undefined ? { subscriptions } : {}),
    ...(resourceGroups !== undefined ? { resourceGroups } : {}),
    ...(identities !== undefined ? { identities } : {}),
    ...(virtualMachines !== undefined ? { virtualMachines } : {}),
    ...(scaleSets !== undefined ? { scaleSets } : {}),
    ...(servicePrincipals !== undefined ? { servicePrincipals } : {}),
    ...(roleAssignments !== undefined ? { roleAssignments } : {}),
  };
}
