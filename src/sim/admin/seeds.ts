/**
 * Convenience seeds (admin `POST /seed/...`, SimAdminClient) and the pure functions that turn them
 * into model objects with realistic defaults: GUIDs for client/principal/VM IDs, AKS-style scale-set
 * and computer names.
 * @module
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type {
  ComputeResourceBase,
  ResourceIdentity,
  ResourceIdentityType,
  RoleAssignment,
  ServicePrincipal,
  UserAssignedIdentity,
  VirtualMachine,
  VirtualMachineScaleSet,
} from '../state/model.ts';

export interface ResourceGroupSeed {
  /** Default: a new GUID. */
  readonly subscriptionId?: string;
  readonly resourceGroup: string;
}

export interface IdentitySeed {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  /** Default `eastus`. */
  readonly location?: string;
  readonly tags?: Record<string, string>;
  /** Default: a new GUID. */
  readonly clientId?: string;
  /** Default: a new GUID. */
  readonly principalId?: string;
}

/** Identities on a VM or scale set. */
export interface ComputeIdentitySeed {
  /** User-assigned identity resource IDs (they need not exist: a dangling ID is a valid scenario). */
  readonly identities?: readonly string[];
  /** Give it a system-assigned identity (new principal/client IDs). */
  readonly systemAssigned?: boolean;
}

export interface VmSeed extends ComputeIdentitySeed {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** The VM name, which is also the Kubernetes node name. */
  readonly name: string;
  readonly location?: string;
  readonly vmSize?: string;
  readonly tags?: Record<string, string>;
}

export interface VmssSeed extends ComputeIdentitySeed {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** Default: AKS style `aks-<pool>-<8 digits>-vmss`. */
  readonly name?: string;
  /** Node pool name for the default name; default `nodepool1`. */
  readonly pool?: string;
  /** Number of instances; default 1. */
  readonly instances?: number;
  readonly location?: string;
  readonly vmSize?: string;
  readonly tags?: Record<string, string>;
}

export interface ServicePrincipalSeed {
  readonly displayName?: string;
  /** Default: a new GUID. */
  readonly appId?: string;
  /** Default: a new GUID. */
  readonly objectId?: string;
  /** A client secret, or `true` to generate one (returned in the response). */
  readonly secret?: string | true;
  /** A PEM certificate whose key may sign client assertions. */
  readonly certificatePem?: string;
}

/** A federated identity credential on an existing user-assigned identity. */
export interface FederatedCredentialSeed {
  /** The identity's resource ID. */
  readonly identityId: string;
  readonly name: string;
  /** An https URL: the `iss` of the tokens to trust. */
  readonly issuer: string;
  /** The `sub` of the tokens to trust, e.g. `system:serviceaccount:<namespace>:<name>`. */
  readonly subject: string;
  /** Default `["api://AzureADTokenExchange"]`. */
  readonly audiences?: readonly string[];
}

export interface RoleAssignmentSeed {
  /** e.g. `/subscriptions/<sub>/resourceGroups/<rg>` or an identity's resource ID. */
  readonly scope: string;
  /** A built-in role name (`Managed Identity Operator`), a role GUID, or a full role definition ID. */
  readonly role: string;
  readonly principalId: string;
  /** Default `ServicePrincipal`. */
  readonly principalType?: string;
  /** The assignment's name (a GUID); default new. */
  readonly name?: string;
  readonly description?: string;
}

export const DEFAULT_LOCATION = 'eastus';
export const DEFAULT_VM_SIZE = 'Standard_D2s_v3';

export function resourceGroupId(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;
}

export function identityResourceId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `${resourceGroupId(subscriptionId, resourceGroup)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
}

export function computeResourceId(kind: 'vm' | 'vmss', subscriptionId: string, resourceGroup: string, name: string): string {
  const type = kind === 'vm' ? 'virtualMachines' : 'virtualMachineScaleSets';
  return `${resourceGroupId(subscriptionId, resourceGroup)}/providers/Microsoft.Compute/${type}/${name}`;
}

/** AKS scale-set name: `aks-<pool>-<8 digits>-vmss`. */
export function aksScaleSetName(pool: string): string {
  return `aks-${pool}-${String(randomInt(10_000_000, 100_000_000))}-vmss`;
}

/** AKS/VMSS computer name of instance `index`: the scale-set name plus 6 base-36 digits (`…vmss00000a`). */
export function vmssComputerName(scaleSetName: string, index: number): string {
  return `${scaleSetName}${index.toString(36).padStart(6, '0')}`;
}

export function identityType(systemAssigned: boolean, userAssigned: number): ResourceIdentityType {
  if (systemAssigned) return userAssigned > 0 ? 'SystemAssigned, UserAssigned' : 'SystemAssigned';
  return userAssigned > 0 ? 'UserAssigned' : 'None';
}

function resourceIdentity(seed: ComputeIdentitySeed, tenantId: string): ResourceIdentity {
  const userAssignedIdentities = [...(seed.identities ?? [])];
  const systemAssigned = seed.systemAssigned === true;
  return {
    type: identityType(systemAssigned, userAssignedIdentities.length),
    ...(systemAssigned ? { systemAssigned: { principalId: randomUUID(), clientId: randomUUID(), tenantId } } : {}),
    userAssignedIdentities,
  };
}

export function buildIdentity(seed: IdentitySeed, tenantId: string): UserAssignedIdentity {
  return {
    id: identityResourceId(seed.subscriptionId, seed.resourceGroup, seed.name),
    name: seed.name,
    subscriptionId: seed.subscriptionId,
    resourceGroup: seed.resourceGroup,
    location: seed.location ?? DEFAULT_LOCATION,
    tags: { ...(seed.tags ?? {}) },
    clientId: seed.clientId ?? randomUUID(),
    principalId: seed.principalId ?? randomUUID(),
    tenantId,
  };
}

/** The fields a seeded VM and scale set share. */
function computeBase(kind: 'vm' | 'vmss', name: string, seed: VmSeed | VmssSeed, tenantId: string): ComputeResourceBase {
  return {
    id: computeResourceId(kind, seed.subscriptionId, seed.resourceGroup, name),
    name,
    subscriptionId: seed.subscriptionId,
    resourceGroup: seed.resourceGroup,
    location: seed.location ?? DEFAULT_LOCATION,
    tags: { ...(seed.tags ?? {}) },
    vmSize: seed.vmSize ?? DEFAULT_VM_SIZE,
    provisioningState: 'Succeeded',
    identity: resourceIdentity(seed, tenantId),
  };
}

export function buildVm(seed: VmSeed, tenantId: string): VirtualMachine {
  return { kind: 'vm', ...computeBase('vm', seed.name, seed, tenantId), vmId: randomUUID() };
}

export function buildScaleSet(seed: VmssSeed, tenantId: string): VirtualMachineScaleSet {
  const name = seed.name ?? aksScaleSetName(seed.pool ?? 'nodepool1');
  const count = seed.instances ?? 1;
  return {
    kind: 'vmss',
    ...computeBase('vmss', name, seed, tenantId),
    instances: Array.from({ length: count }, (_, index) => ({ instanceId: String(index), computerName: vmssComputerName(name, index), vmId: randomUUID() })),
  };
}

/** A client secret in the shape Entra generates (40 characters, URL-safe). */
export function generateClientSecret(): string {
  return randomBytes(30).toString('base64url');
}

export function buildServicePrincipal(seed: ServicePrincipalSeed, tenantId: string): ServicePrincipal {
  const appId = seed.appId ?? randomUUID();
  const secret = seed.secret === true ? generateClientSecret() : seed.secret;
  return {
    appId,
    objectId: seed.objectId ?? randomUUID(),
    tenantId,
    displayName: seed.displayName ?? `sp-${appId.slice(0, 8)}`,
    secrets: secret === undefined ? [] : [secret],
    certificatesPem: seed.certificatePem === undefined ? [] : [seed.certificatePem],
  };
}

/** `roleDefinitionId` must already be resolved (see roles.ts). */
export function buildRoleAssignment(seed: RoleAssignmentSeed, roleDefinitionId: string, now: Date = new Date()): RoleAssignment {
  const name = seed.name ?? randomUUID();
  const scope = seed.scope.replace(/\/+$/, '');
  return {
    id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
    name,
    scope: scope === '' ? '/' : scope,
    roleDefinitionId,
    principalId: seed.principalId,
    principalType: seed.principalType ?? 'ServicePrincipal',
    createdOn: now.toISOString(),
    ...(seed.description !== undefined ? { description: seed.description } : {}),
  };
}
