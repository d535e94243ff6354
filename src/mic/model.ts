/**
 * The inputs of MIC's decisions, as small projected shapes (see the informers in ../kube), and the
 * desired (pod, identity) assignments computed from them. Pure data.
 * @module
 */
import type { AzureIdentity, AzureIdentityBinding, AzureAssignedIdentity } from '../api/index.ts';
import type { NodeCompute } from '../azure/provider-id.ts';

/** What MIC needs of a pod. */
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
  /** Empty until scheduled. */
  readonly nodeName: string;
  /** Pending, Running, Succeeded, Failed, Unknown. */
  readonly phase: string;
  /** Value of the `aadpodidbinding` label; undefined when the label is absent. */
  readonly bindingLabel: string | undefined;
  /** Whether the pod opted into the identity-ready readiness gate. */
  readonly readinessGate: boolean;
  /** Current status of the identity-ready condition, if set. */
  readonly identityReady: 'True' | 'False' | 'Unknown' | undefined;
  readonly identityReadyReason: string | undefined;
}

/** What MIC needs of a node. */
export interface NodeInfo {
  readonly name: string;
  /** The VM or scale set behind `spec.providerID`; undefined when it is not an Azure node. */
  readonly compute: NodeCompute | undefined;
}

/** Everything the desired state depends on, read from the informer caches. */
export interface ClusterSnapshot {
  readonly pods: Iterable<PodInfo>;
  /** By node name. */
  readonly nodes: ReadonlyMap<string, NodeInfo>;
  /** By `namespace/name`. */
  readonly identities: ReadonlyMap<string, AzureIdentity>;
  readonly bindings: Iterable<AzureIdentityBinding>;
  /** By `namespace/name`. */
  readonly assigned: ReadonlyMap<string, AzureAssignedIdentity>;
}

/** Cluster-wide settings that change the desired state. */
export interface MicPolicy {
  /** `--forceNamespaced` / `FORCENAMESPACED=true`: identity, binding and pod must share a namespace. */
  readonly forceNamespaced: boolean;
}

/** One (pod, identity) pair that should exist as an AzureAssignedIdentity. */
export interface DesiredAssignment {
  /** AAI name `<pod>-<podNamespace>-<identity>` (upstream's, for interoperability). */
  readonly name: string;
  /** AAI namespace: `default`, or the identity's namespace when namespaced. */
  readonly namespace: string;
  readonly podName: string;
  readonly podNamespace: string;
  readonly podUid: string;
  readonly nodeName: string;
  readonly identity: AzureIdentity;
  readonly binding: AzureIdentityBinding;
  /** Lower-cased resource ID for type-0 identities (what goes on the VM/VMSS); undefined for the types never assigned to a node. */
  readonly resourceIdKey: string | undefined;
}

/** Why a pod that asked for an identity did not get (one of) them: surfaced as Events and by doctor. */
export interface DesiredProblem {
  readonly kind: 'identity-not-found' | 'namespace-mismatch' | 'invalid-resource-id' | 'duplicate-name';
  readonly podNamespace: string;
  readonly podName: string;
  readonly binding: { readonly namespace: string; readonly name: string };
  readonly message: string;
}

export interface DesiredState {
  /** By `namespace/name` of the AAI. */
  readonly assignments: ReadonlyMap<string, DesiredAssignment>;
  readonly problems: readonly DesiredProblem[];
}

/** `namespace/name`. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
