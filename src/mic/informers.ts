/**
 * MIC's informers: pods carrying the `aadpodidbinding` label (a label-selected watch: a pod losing the
 * label leaves the cache as if deleted), nodes, and the three custom resources MIC reads. Objects are
 * projected on arrival: pods and nodes to the few fields MIC uses, custom resources through the
 * normalising readers of src/api (legacy PascalCase included; unreadable objects are skipped and
 * logged) without their `managedFields`, which MIC never reads nor writes back (a few hundred bytes
 * per object, for each of 10,000 AAIs); AAIs share equal embedded identities and bindings.
 * @module
 */
import type { KubeTarget } from '../kube/access.ts';
import type { Logger } from 'pino';
import {
  AZURE_ASSIGNED_IDENTITY,
  AZURE_IDENTITY,
  AZURE_IDENTITY_BINDING,
  BINDING_LABEL,
  GROUP,
  IDENTITY_READY_CONDITION,
  readAzureAssignedIdentity,
  readAzureIdentity,
  readAzureIdentityBinding,
  VERSION,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
} from '../api/index.ts';
import { parseProviderId } from '../azure/provider-id.ts';
import type { Clock } from '../lib/clock.ts';
import { Informer } from '../kube/informer.ts';
import { rawLister } from '../kube/raw-client.ts';
import { objectKey, type NodeInfo, type PodInfo } from './model.ts';
import { ValueInterner } from './value-interner.ts';

interface RawMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
}

interface RawPod {
  metadata?: RawMeta;
  spec?: { nodeName?: string; readinessGates?: { conditionType?: string }[] };
  status?: { phase?: string; conditions?: { type?: string; status?: string; reason?: string }[] };
}

/** Projects a raw pod to {@link PodInfo}. */
export function projectPod(raw: unknown): PodInfo | undefined {
  const pod = raw as RawPod;
  const metadata = pod.metadata;
  if (metadata?.name === undefined || metadata.namespace === undefined) return undefined;
  const condition = pod.status?.conditions?.find((entry) => entry.type === IDENTITY_READY_CONDITION);
  const status = condition?.status;
  return {
    namespace: metadata.namespace,
    name: metadata.name,
    uid: metadata.uid ?? '',
    resourceVersion: metadata.resourceVersion ?? '',
    nodeName: pod.spec?.nodeName ?? '',
    phase: pod.status?.phase ?? '',
    bindingLabel: metadata.labels?.[BINDING_LABEL],
    readinessGate: pod.spec?.readinessGates?.some((gate) => gate.conditionType === IDENTITY_READY_CONDITION) ?? false,
    identityReady: status === 'True' || status === 'False' || status === 'Unknown' ? status : undefined,
    identityReadyReason: condition?.reason,
  };
}

/** Projects a raw node to {@link NodeInfo} (plus its resource version, for change detection). */
export function projectNode(raw: unknown): (NodeInfo & { resourceVersion: string }) | undefined {
  const node = raw as { metadata?: RawMeta; spec?: { providerID?: string } };
  if (node.metadata?.name === undefined) return undefined;
  return { name: node.metadata.name, compute: parseProviderId(node.spec?.providerID), resourceVersion: node.metadata.resourceVersion ?? '' };
}

/** A raw custom resource without `metadata.managedFields` (the readers keep unknown metadata as received). */
export function withoutManagedFields(raw: unknown): unknown {
  const metadata = (raw as { metadata?: unknown } | null)?.metadata;
  if (typeof metadata !== 'object' || metadata === null || !('managedFields' in metadata)) return raw;
  const { managedFields: _dropped, ...kept } = metadata as Record<string, unknown>;
  return { ...(raw as Record<string, unknown>), metadata: kept };
}

/** Reads an AAI sharing its embedded identity and binding with the AAIs that embed equal ones. */
function assignedReader(): (raw: unknown) => AzureAssignedIdentity {
  const identities = new ValueInterner<AzureIdentity>();
  const bindings = new ValueInterner<AzureIdentityBinding>();
  return (raw) => {
    const assigned = readAzureAssignedIdentity(withoutManagedFields(raw));
    const { spec } = assigned;
    if (spec.azureIdentityRef !== undefined) spec.azureIdentityRef = identities.intern(spec.azureIdentityRef);
    if (spec.azureBindingRef !== undefined) spec.azureBindingRef = bindings.intern(spec.azureBindingRef);
    return assigned;
  };
}

const crKey = (object: { metadata: { namespace?: string; name?: string } }): string => objectKey(object.metadata.namespace ?? '', object.metadata.name ?? '');
const crVersion = (object: { metadata: { resourceVersion?: string } }): string => object.metadata.resourceVersion ?? '';

export interface MicInformers {
  readonly pods: Informer<PodInfo>;
  readonly nodes: Informer<NodeInfo & { resourceVersion: string }>;
  readonly identities: Informer<AzureIdentity>;
  readonly bindings: Informer<AzureIdentityBinding>;
  readonly assigned: Informer<AzureAssignedIdentity>;
  readonly all: readonly Informer<unknown>[];
}

export function createMicInformers(kubeConfig: KubeTarget, logger: Logger, clock?: Clock): MicInformers {
  const common = { kubeConfig, logger, ...(clock === undefined ? {} : { clock }) };
  const crPath = (plural: string): string => `/apis/${GROUP}/${VERSION}/${plural}`;
  const pods = new Informer<PodInfo>({
    ...common,
    name: 'pods',
    source: { path: '/api/v1/pods', list: rawLister(kubeConfig, '/api/v1/pods'), labelSelector: BINDING_LABEL },
    project: projectPod,
    keyOf: (pod) => objectKey(pod.namespace, pod.name),
    resourceVersionOf: (pod) => pod.resourceVersion,
  });
  const nodes = new Informer<NodeInfo & { resourceVersion: string }>({
    ...common,
    name: 'nodes',
    source: { path: '/api/v1/nodes', list: rawLister(kubeConfig, '/api/v1/nodes') },
    project: projectNode,
    keyOf: (node) => node.name,
    resourceVersionOf: (node) => node.resourceVersion,
  });
  const identities = new Informer<AzureIdentity>({
    ...common,
    name: AZURE_IDENTITY.plural,
    source: { path: crPath(AZURE_IDENTITY.plural), list: rawLister(kubeConfig, crPath(AZURE_IDENTITY.plural)) },
    project: (raw) => readAzureIdentity(withoutManagedFields(raw)),
    keyOf: crKey,
    resourceVersionOf: crVersion,
  });
  const bindings = new Informer<AzureIdentityBinding>({
    ...common,
    name: AZURE_IDENTITY_BINDING.plural,
    source: { path: crPath(AZURE_IDENTITY_BINDING.plural), list: rawLister(kubeConfig, crPath(AZURE_IDENTITY_BINDING.plural)) },
    project: (raw) => readAzureIdentityBinding(withoutManagedFields(raw)),
    keyOf: crKey,
    resourceVersionOf: crVersion,
  });
  const assigned = new Informer<AzureAssignedIdentity>({
    ...common,
    name: AZURE_ASSIGNED_IDENTITY.plural,
    source: { path: crPath(AZURE_ASSIGNED_IDENTITY.plural), list: rawLister(kubeConfig, crPath(AZURE_ASSIGNED_IDENTITY.plural)) },
    project: assignedReader(),
    keyOf: crKey,
    resourceVersionOf: crVersion,
  });
  return { pods, nodes, identities, bindings, assigned, all: [pods, nodes, identities, bindings, assigned] as readonly Informer<unknown>[] };
}
