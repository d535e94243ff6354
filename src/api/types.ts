/**
 * TypeScript model of the four custom resources, with the exact JSON field names of the wire
 * format (behaviour reference §1.2–1.5). Objects of these types come from the readers in this
 * folder, which guarantee the shape (see `readAzureIdentity` and friends); never cast raw JSON.
 * @module
 */
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';
import type { AssignedIdentityState } from './assigned-state.ts';
import type { IdentityType } from './identity-type.ts';
import type { API_VERSION } from './names.ts';

/**
 * Object metadata as plain data: the fields of client-node's `V1ObjectMeta` class without its
 * class identity, so that object literals and parsed JSON are legitimately of this type.
 */
export type ObjectMeta = { [K in keyof V1ObjectMeta]: V1ObjectMeta[K] };

/** Reference to a Secret (core `SecretReference`); `namespace` may be empty in old objects. */
export interface SecretReference {
  name?: string;
  namespace?: string;
}

/** Desired identity: which Azure identity, and for service principals how to authenticate. */
export interface AzureIdentitySpec {
  /** 0 user-assigned managed identity, 1 service principal + secret, 2 service principal + certificate, 3 federated. */
  type: IdentityType;
  /** ARM ID of the user-assigned identity (type 0; optional for type 3, where it only matches `msi_res_id`). */
  resourceID?: string;
  /** Client (application) ID: of the managed identity (types 0, 3) or the service principal (1, 2). */
  clientID?: string;
  /** Secret with the service principal's credential (types 1, 2). */
  clientPassword?: SecretReference;
  /** Tenant of the service principal (types 1, 2) or of the federated identity (type 3). */
  tenantID?: string;
  /** Extra tenants for multi-tenant service principals (type 1). */
  auxiliaryTenantIDs?: string[];
  /** Declared by upstream, never read. */
  adResourceID?: string;
  /** Entra ID authority host for service principals and federated identities (types 1, 2, 3). */
  adEndpoint?: string;
  /** Declared by upstream, never read. */
  replicas?: number;
}

/** Status of an AzureIdentity (declared upstream, never written by MIC or NMI). */
export interface AzureIdentityStatus {
  availableReplicas?: number;
}

/** An Azure identity that pods may use, selected through bindings. */
export interface AzureIdentity extends KubernetesObject {
  apiVersion: typeof API_VERSION;
  kind: 'AzureIdentity';
  metadata: ObjectMeta;
  spec: AzureIdentitySpec;
  status?: AzureIdentityStatus;
}

/** Which pods (by the value of their `aadpodidbinding` label) may use which identity. */
export interface AzureIdentityBindingSpec {
  /** Name of an AzureIdentity in the binding's namespace; empty when the object omits it. */
  azureIdentity: string;
  /** Compared by string equality with the pod's `aadpodidbinding` label; empty when omitted. */
  selector: string;
  /** Declared by upstream, never used. */
  weight?: number;
}

/** Status of an AzureIdentityBinding (declared upstream, never written). */
export interface AzureIdentityBindingStatus {
  availableReplicas?: number;
}

/** Grants pods carrying `aadpodidbinding: <selector>` the identity named in `azureIdentity`. */
export interface AzureIdentityBinding extends KubernetesObject {
  apiVersion: typeof API_VERSION;
  kind: 'AzureIdentityBinding';
  metadata: ObjectMeta;
  spec: AzureIdentityBindingSpec;
  status?: AzureIdentityBindingStatus;
}

/** One (pod, identity) assignment; written only by MIC, read by NMI. */
export interface AzureAssignedIdentitySpec {
  /** Full copy of the AzureIdentity at assignment time (MIC always writes it). */
  azureIdentityRef?: AzureIdentity;
  /** Full copy of the AzureIdentityBinding that matched (MIC always writes it). */
  azureBindingRef?: AzureIdentityBinding;
  /** Pod name; empty when the object omits it. */
  pod: string;
  /** Pod namespace; empty when the object omits it. */
  podNamespace: string;
  /** Node name (all lower case on the wire); empty when the object omits it. */
  nodename: string;
  /** Declared by upstream, never used. */
  replicas?: number;
}

/** Status MIC writes through the main resource (there is no status subresource). */
export interface AzureAssignedIdentityStatus {
  /** Life-cycle state; `''` in objects from releases before states existed (means Assigned). */
  status?: AssignedIdentityState | '';
  /** MIC always writes 1. */
  availableReplicas?: number;
}

/** Records that a pod may use an identity on a node, and how far the assignment got. */
export interface AzureAssignedIdentity extends KubernetesObject {
  apiVersion: typeof API_VERSION;
  kind: 'AzureAssignedIdentity';
  metadata: ObjectMeta;
  spec: AzureAssignedIdentitySpec;
  status?: AzureAssignedIdentityStatus;
}

/** Pods NMI does not intercept: any one matching label pair excepts a pod of the same namespace. */
export interface AzurePodIdentityExceptionSpec {
  /** Label key → value (value compared case-insensitively); empty when the object omits it. */
  podLabels: Record<string, string>;
}

/** Status of an AzurePodIdentityException (declared upstream, never written). */
export interface AzurePodIdentityExceptionStatus {
  status?: string;
}

/** Lets matching pods in its namespace reach the node's identity directly, as if NMI were absent. */
export interface AzurePodIdentityException extends KubernetesObject {
  apiVersion: typeof API_VERSION;
  kind: 'AzurePodIdentityException';
  metadata: ObjectMeta;
  spec: AzurePodIdentityExceptionSpec;
  status?: AzurePodIdentityExceptionStatus;
}

/** Any of the four custom resources. */
export type PodIdentityResource =
  | AzureIdentity
  | AzureIdentityBinding
  | AzureAssignedIdentity
  | AzurePodIdentityException;
