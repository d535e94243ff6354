/**
 * NMI's informers: this node's pods (field selector `spec.nodeName=<node>`, as upstream), the
 * AzureAssignedIdentities of this node (label `nodename=<node>` with `--enableScaleFeatures`, the
 * default), exceptions, and in managed mode bindings and identities. Custom resources go through the
 * normalising readers of src/api (legacy PascalCase included).
 * @module
 */
import type { Logger } from 'pino';
import type { KubeTarget } from '../../kube/access.ts';
import {
  AZURE_ASSIGNED_IDENTITY,
  AZURE_IDENTITY,
  AZURE_IDENTITY_BINDING,
  AZURE_POD_IDENTITY_EXCEPTION,
  GROUP,
  NODE_NAME_LABEL,
  readAzureAssignedIdentity,
  readAzureIdentity,
  readAzureIdentityBinding,
  readAzurePodIdentityException,
  VERSION,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
  type AzurePodIdentityException,
} from '../../api/index.ts';
import type { Clock } from '../../lib/clock.ts';
import { Informer, type ResourceSource } from '../../kube/informer.ts';
import { rawLister } from '../../kube/raw-client.ts';
import { projectNodePod, type NodePod } from './pods.ts';

export interface NmiInformers {
  readonly pods: Informer<NodePod>;
  readonly assigned: Informer<AzureAssignedIdentity> | undefined;
  readonly exceptions: Informer<AzurePodIdentityException>;
  readonly bindings: Informer<AzureIdentityBinding> | undefined;
  readonly identities: Informer<AzureIdentity> | undefined;
  readonly all: readonly Informer<unknown>[];
}

export interface NmiInformerOptions {
  readonly nodeName: string;
  readonly mode: 'standard' | 'managed';
  readonly watchNodeAssignmentsOnly: boolean;
  readonly clock?: Clock;
}

const crKey = (object: { metadata: { namespace?: string; name?: string } }): string => `${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;
const crVersion = (object: { metadata: { resourceVersion?: string } }): string => object.metadata.resourceVersion ?? '';

export function createNmiInformers(kubeConfig: KubeTarget, logger: Logger, options: NmiInformerOptions): NmiInformers {
  const common = { kubeConfig, logger, ...(options.clock === undefined ? {} : { clock: options.clock }) };
  const source = (path: string, selectors: { labelSelector?: string; fieldSelector?: string } = {}): ResourceSource => ({ path, list: rawLister(kubeConfig, path), ...selectors });
  const crPath = (plural: string): string => `/apis/${GROUP}/${VERSION}/${plural}`;
  const custom = <T extends { metadata: { namespace?: string; name?: string; resourceVersion?: string } }>(
    plural: string,
    read: (raw: unknown) => T,
    selectors: { labelSelector?: string } = {},
  ): Informer<T> =>
    new Informer<T>({ ...common, name: plural, source: source(crPath(plural), selectors), project: read, keyOf: crKey, resourceVersionOf: crVersion });

  const pods = new Informer<NodePod>({
    ...common,
    name: 'pods',
    source: source('/api/v1/pods', { fieldSelector: `spec.nodeName=${options.nodeName}` }),
    project: projectNodePod,
    keyOf: (pod) => `${pod.namespace}/${pod.name}`,
    resourceVersionOf: (pod) => pod.resourceVersion,
  });
  const exceptions = custom(AZURE_POD_IDENTITY_EXCEPTION.plural, readAzurePodIdentityException);
  const standard = options.mode === 'standard';
  const assigned = standard
    ? custom(AZURE_ASSIGNED_IDENTITY.plural, readAzureAssignedIdentity, options.watchNodeAssignmentsOnly ? { labelSelector: `${NODE_NAME_LABEL}=${options.nodeName}` } : {})
    : undefined;
  const bindings = standard ? undefined : custom(AZURE_IDENTITY_BINDING.plural, (raw) => readAzureIdentityBinding(raw));
  const identities = standard ? undefined : custom(AZURE_IDENTITY.plural, (raw) => readAzureIdentity(raw));
  const all = [pods, exceptions, assigned, bindings, identities].filter((informer) => informer !== undefined) as readonly Informer<unknown>[];
  return { pods, assigned, exceptions, bindings, identities, all };
}
