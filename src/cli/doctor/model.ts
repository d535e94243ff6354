/**
 * `pod-identity doctor`: what is gathered about one pod (the {@link DoctorSnapshot}, plain data) and
 * what is concluded from it (the {@link DoctorReport}). gather.ts fills the snapshot, diagnose.ts
 * turns it into a report without I/O, render.ts prints it.
 * @module
 */
import type { AzureAssignedIdentity, AzureIdentity, AzureIdentityBinding, AzurePodIdentityException } from '../../api/index.ts';
import type { ComputeTargetRef } from '../../azure/provider-id.ts';
import type { NodeInfo, PodInfo } from '../../mic/model.ts';
import type { FederatedCredentialView } from '../federation/credential.ts';

/** The pod under diagnosis: MIC's projection plus what NMI looks at. */
export interface DoctorPod {
  readonly info: PodInfo;
  readonly labels: Readonly<Record<string, string>>;
  /** Name of the owning ReplicaSet, if any (upstream's MIC self-exception). */
  readonly replicaSet: string | undefined;
}

/** Whether namespaced mode is on, and who said so. */
export interface NamespacedMode {
  readonly forceNamespaced: boolean;
  /** `flag`: --namespaced given; `deployment`: read from MIC's Deployment; `default`: no MIC Deployment found. */
  readonly source: 'flag' | 'deployment' | 'default';
  /** One line, e.g. `MIC Deployment kube-system/pod-identity-mic has FORCENAMESPACED=true`. */
  readonly detail: string;
}

/** An NMI pod on the pod's node. */
export interface NmiPod {
  readonly namespace: string;
  readonly name: string;
  readonly phase: string;
  /** The Ready condition's status (`True`, `False`, `Unknown`), undefined when absent. */
  readonly ready: string | undefined;
  readonly readyMessage: string | undefined;
  /** `spec.serviceAccountName` (the subject of NMI's token for federated identities); undefined when unknown. */
  readonly serviceAccount?: string | undefined;
}

/** A core/v1 Event, the fields doctor shows. */
export interface EventInfo {
  readonly namespace: string;
  readonly involvedKind: string;
  readonly involvedName: string;
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly count: number;
  /** ISO time of the last occurrence ('' when unknown). */
  readonly lastTimestamp: string;
}

/** The identities on the node's VM / scale set, as ARM returned them. */
export type ComputeRead =
  | { readonly kind: 'ok'; readonly target: ComputeTargetRef; readonly identities: readonly string[] }
  | { readonly kind: 'error'; readonly target: ComputeTargetRef; readonly message: string; readonly statusCode: number | undefined };

/** Role assignments of the cluster identity that cover one identity's resource ID. */
export type RoleRead =
  | { readonly kind: 'ok'; readonly assignments: readonly { readonly roleDefinitionId: string; readonly scope: string }[] }
  | { readonly kind: 'error'; readonly message: string; readonly statusCode: number | undefined };

/** The object ID of the identity MIC calls ARM with ("cluster identity"), and how it was found. */
export type PrincipalRead =
  | { readonly kind: 'known'; readonly principalId: string; readonly source: string }
  | { readonly kind: 'unknown'; readonly reason: string };

/** The federated identity credentials of one type-3 identity, as ARM returned them. */
export type FederatedCredentialsRead =
  | {
      readonly kind: 'ok';
      /** The user-assigned identity read (the AzureIdentity's resourceID, else found by client ID). */
      readonly identityId: string;
      /** Its client ID according to ARM (undefined when ARM did not say). */
      readonly clientId: string | undefined;
      readonly credentials: readonly FederatedCredentialView[];
    }
  | { readonly kind: 'error'; readonly message: string; readonly statusCode: number | undefined };

export type AzureFindings =
  /** `--skip-azure`. */
  | { readonly kind: 'skipped'; readonly reason: string }
  /** No credential or configuration to read ARM with. */
  | { readonly kind: 'unavailable'; readonly reason: string }
  | {
      readonly kind: 'read';
      /** Undefined when the node has no Azure compute or nothing had to be read. */
      readonly compute: ComputeRead | undefined;
      readonly principal: PrincipalRead;
      /** By lower-cased identity resource ID. */
      readonly roles: ReadonlyMap<string, RoleRead>;
      /** Federated identities (type 3) the pod should get, by `namespace/name` of the AzureIdentity. */
      readonly federated?: ReadonlyMap<string, FederatedCredentialsRead>;
    };

/** One anonymous HTTPS GET of the issuer's documents. */
export type FetchOutcome =
  | { readonly kind: 'ok'; readonly url: string; readonly json: unknown }
  | { readonly kind: 'http'; readonly url: string; readonly status: number }
  | { readonly kind: 'network'; readonly url: string; readonly message: string }
  | { readonly kind: 'invalid'; readonly url: string; readonly message: string };

/** The issuer as Entra ID would fetch it: the discovery document, then its `jwks_uri` (when https). */
export interface IssuerProbe {
  readonly issuer: string;
  readonly discovery: FetchOutcome;
  readonly jwks: FetchOutcome | undefined;
}

/** The cluster's service-account issuer and what the doctor saw of it (pods with a federated identity only). */
export interface FederationFacts {
  readonly issuer: { readonly kind: 'known'; readonly issuer: string; readonly source: string } | { readonly kind: 'unknown'; readonly reason: string };
  /** Undefined when the issuer is unknown or unusable (not https, cluster-internal). */
  readonly probe: IssuerProbe | undefined;
}

/** Everything diagnose() looks at. Bindings and identities cover the whole cluster (bindings match across namespaces). */
export interface DoctorSnapshot {
  readonly pod: DoctorPod;
  readonly mode: NamespacedMode;
  /** Namespace MIC runs in, when its Deployment was found (for the MIC self-exception). */
  readonly micNamespace: string | undefined;
  readonly bindings: readonly AzureIdentityBinding[];
  /** By `namespace/name`. */
  readonly identities: ReadonlyMap<string, AzureIdentity>;
  /** Exceptions of the pod's namespace. */
  readonly exceptions: readonly AzurePodIdentityException[];
  /** AAIs of this pod (any namespace). */
  readonly assigned: readonly AzureAssignedIdentity[];
  /** The pod's node; undefined when the pod is unscheduled or the Node object does not exist. */
  readonly node: (NodeInfo & { readonly providerId: string | undefined }) | undefined;
  /** NMI pods on the pod's node. */
  readonly nmiPods: readonly NmiPod[];
  /** Events about the pod, its AAIs and its bindings, any order. */
  readonly events: readonly EventInfo[];
  readonly azure: AzureFindings;
  /** Gathered only when the pod should get a federated identity (type 3). */
  readonly federation?: FederationFacts;
}

export type StepStatus = 'ok' | 'fail' | 'warn' | 'skip' | 'unknown';

export type StepId =
  | 'pod'
  | 'label'
  | 'bindings'
  | 'identity'
  | 'namespaced'
  | 'exception'
  | 'assigned'
  | 'node'
  | 'compute-identity'
  | 'role'
  | 'issuer'
  | 'federated-credential'
  | 'nmi'
  | 'events';

export interface DoctorStep {
  readonly id: StepId;
  readonly title: string;
  readonly status: StepStatus;
  /** What was found; may span lines. */
  readonly detail: string;
  /** What to do about a fail / warn / unknown. */
  readonly fix?: string;
}

export interface DoctorReport {
  readonly pod: { readonly namespace: string; readonly name: string; readonly node: string };
  readonly mode: NamespacedMode;
  readonly steps: readonly DoctorStep[];
  /** The first failing step, if any. */
  readonly firstFailure: StepId | undefined;
  /** True when nothing failed: the pod should get a token. */
  readonly healthy: boolean;
  /** Newest first, at most {@link DiagnoseOptions.maxEvents}. */
  readonly events: readonly EventInfo[];
}

export interface DiagnoseOptions {
  /** Events shown (default 5). */
  readonly maxEvents?: number;
}

/** Built-in role that lets a principal assign a user-assigned identity (`.../assign/action`). */
export const MANAGED_IDENTITY_OPERATOR_ROLE_ID = 'f1a07417-d97a-45cb-824c-7a7467783830';
/** Built-in roles whose actions include `*` (assign too). */
export const OWNER_ROLE_ID = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';
export const CONTRIBUTOR_ROLE_ID = 'b24988ac-6180-42a0-ab88-20f7382dd24c';

/** Labels of our chart's components. */
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
