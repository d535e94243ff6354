/**
 * The simulator's state with case-insensitive lookups. One instance is shared by the ARM, Entra ID,
 * IMDS and admin routes of one simulator. Mutations happen in place on the stored objects; snapshots
 * are deep copies.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type {
  ComputeResource,
  FederatedIdentityCredential,
  RoleAssignment,
  ServicePrincipal,
  SimStateData,
  UserAssignedIdentity,
  VirtualMachine,
  VirtualMachineScaleSet,
} from './model.ts';

const key = (id: string): string => id.toLowerCase();

/** A compute resource plus, for a scale set, the instance a node name refers to. */
export interface ComputeTarget {
  readonly resource: ComputeResource;
  readonly instance?: { readonly instanceId: string; readonly computerName: string; readonly vmId: string };
}

/** The user-assigned identities currently on a compute resource, resolved to their records. */
export interface AssignedIdentities {
  readonly userAssigned: UserAssignedIdentity[];
  /** IDs on the resource whose identity no longer exists (deleted in Azure while assigned). */
  readonly dangling: string[];
  readonly systemAssigned?: { readonly principalId: string; readonly clientId: string; readonly tenantId: string };
}

export class SimStore {
  readonly tenantId: string;
  private readonly subscriptions = new Map<string, string>();
  private readonly resourceGroups = new Map<string, string>();
  private readonly identities = new Map<string, UserAssignedIdentity>();
  private readonly compute = new Map<string, ComputeResource>();
  private readonly servicePrincipals = new Map<string, ServicePrincipal>();
  private readonly roleAssignments = new Map<string, RoleAssignment>();

  constructor(tenantId: string = randomUUID()) {
    this.tenantId = tenantId;
  }

  /** Replaces the whole state (admin seed, state file). */
  load(data: Partial<SimStateData>): void {
    for (const map of [this.subscriptions, this.resourceGroups, this.identities, this.compute, this.servicePrincipals, this.roleAssignments]) {
      map.clear();
    }
    for (const subscription of data.subscriptions ?? []) this.addSubscription(subscription);
    for (const group of data.resourceGroups ?? []) this.resourceGroups.set(key(group), group);
    for (const identity of data.identities ?? []) this.putIdentity(structuredClone(identity));
    for (const vm of data.virtualMachines ?? []) this.putCompute(structuredClone(vm));
    for (const scaleSet of data.scaleSets ?? []) this.putCompute(structuredClone(scaleSet));
    for (const principal of data.servicePrincipals ?? []) this.putServicePrincipal(structuredClone(principal));
    for (const assignment of data.roleAssignments ?? []) this.putRoleAssignment(structuredClone(assignment));
  }

  /** A deep copy of everything, JSON-serialisable. */
  snapshot(): SimStateData {
    const compute = [...this.compute.values()];
    return structuredClone({
      tenantId: this.tenantId,
      subscriptions: [...this.subscriptions.values()],
      resourceGroups: [...this.resourceGroups.values()],
      identities: [...this.identities.values()],
      virtualMachines: compute.filter((resource): resource is VirtualMachine => resource.kind === 'vm'),
      scaleSets: compute.filter((resource): resource is VirtualMachineScaleSet => resource.kind === 'vmss'),
      servicePrincipals: [...this.servicePrincipals.values()],
      roleAssignments: [...this.roleAssignments.values()],
    });
  }

  addSubscription(subscriptionId: string): void {
    this.subscriptions.set(key(subscriptionId), subscriptionId);
  }

  hasSubscription(subscriptionId: string): boolean {
    return this.subscriptions.has(key(subscriptionId));
  }

  listSubscriptions(): string[] {
    return [...this.subscriptions.values()];
  }

  /** Registers `/subscriptions/<sub>/resourceGroups/<rg>` (and its subscription). */
  addResourceGroup(subscriptionId: string, resourceGroup: string): void {
    this.addSubscription(subscriptionId);
    const id = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;
    if (!this.resourceGroups.has(key(id))) this.resourceGroups.set(key(id), id);
  }

  hasResourceGroup(subscriptionId: string, resourceGroup: string): boolean {
    return this.resourceGroups.has(key(`/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`));
  }

  /** Resource group IDs (`/subscriptions/<sub>/resourceGroups/<rg>`, as first written), optionally of one subscription. */
  listResourceGroups(subscriptionId?: string): string[] {
    const prefix = subscriptionId === undefined ? undefined : key(`/subscriptions/${subscriptionId}/`);
    return [...this.resourceGroups.entries()].filter(([id]) => prefix === undefined || id.startsWith(prefix)).map(([, id]) => id);
  }

  // --- user-assigned identities ---

  putIdentity(identity: UserAssignedIdentity): void {
    this.addResourceGroup(identity.subscriptionId, identity.resourceGroup);
    this.identities.set(key(identity.id), identity);
  }

  getIdentity(id: string): UserAssignedIdentity | undefined {
    return this.identities.get(key(id));
  }

  deleteIdentity(id: string): boolean {
    return this.identities.delete(key(id));
  }

  listIdentities(filter?: { subscriptionId?: string; resourceGroup?: string }): UserAssignedIdentity[] {
    return [...this.identities.values()].filter(
      (identity) =>
        (filter?.subscriptionId === undefined || key(identity.subscriptionId) === key(filter.subscriptionId)) &&
        (filter?.resourceGroup === undefined || key(identity.resourceGroup) === key(filter.resourceGroup)),
    );
  }

  /** A user-assigned identity by client ID or principal (object) ID. */
  findIdentity(by: { clientId?: string; principalId?: string }): UserAssignedIdentity | undefined {
    return [...this.identities.values()].find(
      (identity) =>
        (by.clientId !== undefined && key(identity.clientId) === key(by.clientId)) ||
        (by.principalId !== undefined && key(identity.principalId) === key(by.principalId)),
    );
  }

  // --- federated identity credentials (children of user-assigned identities) ---

  /** The identity's federated credentials (live records), oldest first; [] when the identity has none or does not exist. */
  listFederatedCredentials(identityId: string): FederatedIdentityCredential[] {
    return this.getIdentity(identityId)?.federatedIdentityCredentials ?? [];
  }

  getFederatedCredential(identityId: string, name: string): FederatedIdentityCredential | undefined {
    return this.listFederatedCredentials(identityId).find((credential) => key(credential.name) === key(name));
  }

  /** Adds or replaces (by name, case-insensitively) a credential of an existing identity; false when the identity does not exist. */
  putFederatedCredential(identityId: string, credential: FederatedIdentityCredential): boolean {
    const identity = this.getIdentity(identityId);
    if (identity === undefined) return false;
    const credentials = identity.federatedIdentityCredentials ?? [];
    const index = credentials.findIndex((existing) => key(existing.name) === key(credential.name));
    if (index === -1) credentials.push(credential);
    else credentials[index] = credential;
    identity.federatedIdentityCredentials = credentials;
    return true;
  }

  deleteFederatedCredential(identityId: string, name: string): boolean {
    const identity = this.getIdentity(identityId);
    const credentials = identity?.federatedIdentityCredentials;
    if (identity === undefined || credentials === undefined) return false;
    const remaining = credentials.filter((credential) => key(credential.name) !== key(name));
    if (remaining.length === credentials.length) return false;
    // No empty list left behind: snapshots of identities without credentials stay as they were.
    if (remaining.length === 0) delete identity.federatedIdentityCredentials;
    else identity.federatedIdentityCredentials = remaining;
    return true;
  }

  // --- VMs and scale sets ---

  putCompute(resource: ComputeResource): void {
    this.addResourceGroup(resource.subscriptionId, resource.resourceGroup);
    this.compute.set(key(resource.id), resource);
  }

  getCompute(id: string): ComputeResource | undefined {
    return this.compute.get(key(id));
  }

  deleteCompute(id: string): boolean {
    return this.compute.delete(key(id));
  }

  listCompute(filter?: { subscriptionId?: string; resourceGroup?: string; kind?: ComputeResource['kind'] }): ComputeResource[] {
    return [...this.compute.values()].filter(
      (resource) =>
        (filter?.kind === undefined || resource.kind === filter.kind) &&
        (filter?.subscriptionId === undefined || key(resource.subscriptionId) === key(filter.subscriptionId)) &&
        (filter?.resourceGroup === undefined || key(resource.resourceGroup) === key(filter.resourceGroup)),
    );
  }

  /**
   * The VM named `nodeName`, or the scale-set instance whose computer name is `nodeName`: how a
   * simulated IMDS endpoint (one per node) finds the resource whose identities it may hand out.
   */
  findComputeByNodeName(nodeName: string): ComputeTarget | undefined {
    for (const resource of this.compute.values()) {
      if (resource.kind === 'vm' && key(resource.name) === key(nodeName)) return { resource };
      if (resource.kind === 'vmss') {
        const instance = resource.instances.find((candidate) => key(candidate.computerName) === key(nodeName));
        if (instance !== undefined) return { resource, instance };
      }
    }
    return undefined;
  }

  /** The identities on a compute resource, resolved; IDs whose identity was deleted are `dangling`. */
  assignedIdentities(resource: ComputeResource): AssignedIdentities {
    const userAssigned: UserAssignedIdentity[] = [];
    const dangling: string[] = [];
    for (const id of resource.identity.userAssignedIdentities) {
      const identity = this.getIdentity(id);
      if (identity === undefined) dangling.push(id);
      else userAssigned.push(identity);
    }
    const systemAssigned = resource.identity.systemAssigned;
    return systemAssigned === undefined ? { userAssigned, dangling } : { userAssigned, dangling, systemAssigned };
  }

  // --- Entra ID service principals ---

  putServicePrincipal(principal: ServicePrincipal): void {
    this.servicePrincipals.set(key(principal.appId), principal);
  }

  getServicePrincipal(appId: string): ServicePrincipal | undefined {
    return this.servicePrincipals.get(key(appId));
  }

  /** Any principal by object ID: a service principal, a user-assigned or a system-assigned identity. */
  principalExists(objectId: string): boolean {
    if ([...this.servicePrincipals.values()].some((principal) => key(principal.objectId) === key(objectId))) return true;
    if (this.findIdentity({ principalId: objectId }) !== undefined) return true;
    return [...this.compute.values()].some((resource) => resource.identity.systemAssigned !== undefined && key(resource.identity.systemAssigned.principalId) === key(objectId));
  }

  // --- role assignments ---

  putRoleAssignment(assignment: RoleAssignment): void {
    this.roleAssignments.set(key(assignment.id), assignment);
  }

  getRoleAssignment(id: string): RoleAssignment | undefined {
    return this.roleAssignments.get(key(id));
  }

  deleteRoleAssignment(id: string): boolean {
    return this.roleAssignments.delete(key(id));
  }

  listRoleAssignments(): RoleAssignment[] {
    return [...this.roleAssignments.values()];
  }
}
