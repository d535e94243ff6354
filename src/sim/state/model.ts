/**
 * The simulated Azure world: plain data, no I/O. ARM, Entra ID and IMDS routes read and change it
 * through {@link ../state/store.ts SimStore}; the admin API seeds it and snapshots it.
 *
 * Resource IDs are stored as first written (Azure echoes the casing it was given) and looked up
 * case-insensitively (ARM IDs are case-insensitive).
 * @module
 */

/** `identity.type` of a VM or scale set, as ARM spells it on the way out. */
export type ResourceIdentityType = 'None' | 'SystemAssigned' | 'UserAssigned' | 'SystemAssigned, UserAssigned';

/** What every tracked ARM resource has: its ID and place, region and tags. */
export interface TrackedResource {
  readonly id: string;
  readonly name: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  location: string;
  tags: Record<string, string>;
}

/**
 * A federated identity credential of a user-assigned identity
 * (`…/userAssignedIdentities/{identity}/federatedIdentityCredentials/{name}`): Entra ID trusts tokens
 * of `issuer` whose `sub` is `subject` and whose `aud` names one of `audiences` as proof of the identity.
 */
export interface FederatedIdentityCredential {
  /** Name as first written (ARM names compare case-insensitively). */
  readonly name: string;
  /** An https URL, compared exactly with the assertion's `iss`. */
  issuer: string;
  /** Compared exactly (case-sensitively) with the assertion's `sub`. */
  subject: string;
  audiences: string[];
}

/** A user-assigned managed identity (`Microsoft.ManagedIdentity/userAssignedIdentities`). */
export interface UserAssignedIdentity extends TrackedResource {
  /** Application (client) ID: `appid` in its tokens; what pods ask IMDS for. */
  readonly clientId: string;
  /** Object ID of its service principal: `oid`/`sub` in its tokens. */
  readonly principalId: string;
  readonly tenantId: string;
  /** Its federated identity credentials; absent when it has none. Deleted with the identity. */
  federatedIdentityCredentials?: FederatedIdentityCredential[];
}

/** The `identity` block of a VM or scale set. */
export interface ResourceIdentity {
  type: ResourceIdentityType;
  /** System-assigned identity, when the type includes SystemAssigned. */
  systemAssigned?: { readonly principalId: string; readonly clientId: string; readonly tenantId: string };
  /** Keys are user-assigned identity IDs as written by the caller (casing preserved). */
  userAssignedIdentities: string[];
}

/** Fields shared by VMs and scale sets. */
export interface ComputeResourceBase extends TrackedResource {
  vmSize: string;
  /** `Succeeded` when idle; `Updating` while an operation runs; `Deleting` refuses updates. */
  provisioningState: 'Succeeded' | 'Updating' | 'Creating' | 'Deleting' | 'Failed';
  identity: ResourceIdentity;
}

/** A standalone (availability-set) VM; its name is the Kubernetes node name. */
export interface VirtualMachine extends ComputeResourceBase {
  readonly kind: 'vm';
  readonly vmId: string;
}

/** One instance of a scale set; `computerName` is the Kubernetes node name (e.g. `aks-pool-vmss000000`). */
export interface ScaleSetInstance {
  readonly instanceId: string;
  readonly computerName: string;
  readonly vmId: string;
}

/** A VM scale set: identities are set on the model and so apply to every instance. */
export interface VirtualMachineScaleSet extends ComputeResourceBase {
  readonly kind: 'vmss';
  instances: ScaleSetInstance[];
}

export type ComputeResource = VirtualMachine | VirtualMachineScaleSet;

/** An app registration + service principal that can get tokens with a secret or a certificate. */
export interface ServicePrincipal {
  readonly appId: string;
  readonly objectId: string;
  readonly tenantId: string;
  readonly displayName: string;
  /** Client secrets in clear text (the simulator must compare them; never logged). */
  secrets: string[];
  /** PEM certificates whose private keys may sign client assertions. */
  certificatesPem: string[];
}

/** `Microsoft.Authorization/roleAssignments`. */
export interface RoleAssignment {
  readonly id: string;
  readonly name: string;
  readonly scope: string;
  readonly roleDefinitionId: string;
  readonly principalId: string;
  readonly principalType: string;
  readonly createdOn: string;
  readonly description?: string;
}

/** A built-in role definition (the same GUIDs in every tenant). */
export interface RoleDefinition {
  readonly guid: string;
  readonly roleName: string;
  readonly description: string;
  readonly actions: readonly string[];
}

/** Everything the simulator knows; JSON-serialisable (the admin API's snapshot and the state file). */
export interface SimStateData {
  tenantId: string;
  subscriptions: string[];
  /** `/subscriptions/<sub>/resourceGroups/<rg>` as first written. */
  resourceGroups: string[];
  identities: UserAssignedIdentity[];
  virtualMachines: VirtualMachine[];
  scaleSets: VirtualMachineScaleSet[];
  servicePrincipals: ServicePrincipal[];
  roleAssignments: RoleAssignment[];
}
