/**
 * The doctor's I/O shell: reads what {@link diagnose} needs from the API server (the pod, bindings,
 * identities, exceptions, AzureAssignedIdentities, the node, NMI pods on it, MIC's Deployment for
 * namespaced mode, Events) and, when it can, from ARM (the VM / VMSS identity block, the cluster
 * identity's role assignments on each identity, the federated identity credentials of type-3
 * identities); for type-3 identities also the cluster's service-account issuer and an anonymous probe
 * of its discovery document and JWKS. Projections of raw objects are exported for tests.
 * @module
 */
import type { KubeTarget } from '../../kube/access.ts';
import {
  AZURE_ASSIGNED_IDENTITY,
  AZURE_IDENTITY,
  AZURE_IDENTITY_BINDING,
  AZURE_POD_IDENTITY_EXCEPTION,
  GROUP,
  readAzureAssignedIdentity,
  readAzureIdentity,
  readAzureIdentityBinding,
  readAzurePodIdentityException,
  VERSION,
  type AzureIdentity,
} from '../../api/index.ts';
import { projectNode, projectPod } from '../../mic/informers.ts';
import { objectKey } from '../../mic/model.ts';
import { isStatus, rawRequest } from '../../kube/raw-client.ts';
import { UsageError } from '../command.ts';
import { readClusterIssuer } from '../federation/cluster-issuer.ts';
import { unusableIssuer } from '../federation/issuer.ts';
import type { AzureReader } from './azure.ts';
import { desiredFor, federatedIdentities, userAssignedResourceIds } from './diagnose.ts';
import { identityKey } from './federated-steps.ts';
import { probeIssuer } from './issuer-probe.ts';
import {
  COMPONENT_LABEL,
  type AzureFindings,
  type DoctorPod,
  type DoctorSnapshot,
  type EventInfo,
  type FederatedCredentialsRead,
  type FederationFacts,
  type NamespacedMode,
  type NmiPod,
} from './model.ts';

interface RawObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; ownerReferences?: { kind?: string; name?: string; controller?: boolean }[] };
  spec?: { serviceAccountName?: unknown } & Record<string, unknown>;
  status?: { phase?: string; conditions?: { type?: string; status?: string; message?: string; reason?: string }[] };
}

/** Projects a raw pod to {@link DoctorPod}; undefined when it is not a pod. */
export function projectDoctorPod(raw: unknown): DoctorPod | undefined {
  const info = projectPod(raw);
  if (info === undefined) return undefined;
  const metadata = (raw as RawObject).metadata;
  const owner = metadata?.ownerReferences?.find((reference) => reference.kind === 'ReplicaSet');
  return { info, labels: { ...(metadata?.labels ?? {}) }, replicaSet: owner?.name };
}

/** Projects a raw pod to an {@link NmiPod}. */
export function projectNmiPod(raw: unknown): NmiPod | undefined {
  const pod = raw as RawObject;
  if (pod.metadata?.name === undefined) return undefined;
  const ready = pod.status?.conditions?.find((condition) => condition.type === 'Ready');
  const serviceAccount = pod.spec?.serviceAccountName;
  return {
    namespace: pod.metadata.namespace ?? '',
    name: pod.metadata.name,
    phase: pod.status?.phase ?? '',
    ready: ready?.status,
    readyMessage: ready?.message ?? ready?.reason,
    serviceAccount: typeof serviceAccount === 'string' && serviceAccount !== '' ? serviceAccount : undefined,
  };
}

interface RawContainer {
  name?: string;
  args?: string[];
  command?: string[];
  env?: { name?: string; value?: string }[];
}

/** Whether a MIC container runs namespaced: `--forceNamespaced[=true]` or FORCENAMESPACED=true (exact, as MIC reads it). */
function containerNamespaced(container: RawContainer): { on: boolean; why: string } {
  const flags = [...(container.command ?? []), ...(container.args ?? [])];
  for (const flag of flags) {
    const match = /^--?forceNamespaced(?:=(.*))?$/.exec(flag);
    if (match !== null) {
      const value = match[1] ?? 'true';
      const on = ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value);
      return { on, why: `argument ${flag}` };
    }
  }
  const env = container.env?.find((variable) => variable.name === 'FORCENAMESPACED');
  if (env !== undefined) return { on: env.value === 'true', why: `FORCENAMESPACED=${env.value ?? ''}` };
  return { on: false, why: 'neither --forceNamespaced nor FORCENAMESPACED=true' };
}

/** Namespaced mode from MIC Deployments (label `app.kubernetes.io/component=mic`); pure over the raw list. */
export function modeFromDeployments(rawDeployments: readonly unknown[]): { mode: NamespacedMode; micNamespace: string | undefined } {
  const deployments = rawDeployments as { metadata?: { name?: string; namespace?: string }; spec?: { template?: { spec?: { containers?: RawContainer[] } } } }[];
  const first = deployments[0];
  if (first === undefined) {
    return { mode: { forceNamespaced: false, source: 'default', detail: `no MIC Deployment (label ${COMPONENT_LABEL}=mic) found; assuming off (pass --namespaced if MIC runs with --forceNamespaced)` }, micNamespace: undefined };
  }
  const name = `${first.metadata?.namespace ?? ''}/${first.metadata?.name ?? ''}`;
  const containers = first.spec?.template?.spec?.containers ?? [];
  const container = containers.find((candidate) => candidate.name === 'mic') ?? containers[0];
  const found = container === undefined ? { on: false, why: 'no container' } : containerNamespaced(container);
  return { mode: { forceNamespaced: found.on, source: 'deployment', detail: `MIC Deployment ${name}: ${found.why}` }, micNamespace: first.metadata?.namespace };
}

/** Projects a raw core/v1 Event. */
export function projectEvent(raw: unknown): EventInfo | undefined {
  const event = raw as {
    metadata?: { namespace?: string };
    involvedObject?: { kind?: string; name?: string; namespace?: string };
    type?: string;
    reason?: string;
    message?: string;
    count?: number;
    lastTimestamp?: string | null;
    eventTime?: string | null;
    series?: { lastObservedTime?: string; count?: number };
    firstTimestamp?: string | null;
  };
  if (event.involvedObject?.name === undefined) return undefined;
  return {
    namespace: event.involvedObject.namespace ?? event.metadata?.namespace ?? '',
    involvedKind: event.involvedObject.kind ?? '',
    involvedName: event.involvedObject.name,
    type: event.type ?? '',
    reason: event.reason ?? '',
    message: event.message ?? '',
    count: event.series?.count ?? event.count ?? 1,
    lastTimestamp: event.series?.lastObservedTime ?? event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? '',
  };
}

/** Every item of a list path, page by page. */
export async function listAll(kubeConfig: KubeTarget, path: string, query: Record<string, string> = {}): Promise<unknown[]> {
  const items: unknown[] = [];
  let continueToken: string | undefined;
  do {
    const page = (await rawRequest(kubeConfig, { method: 'GET', path, query: { ...query, limit: 500, continue: continueToken } })) as { items?: unknown[]; metadata?: { continue?: string } };
    items.push(...(page.items ?? []));
    continueToken = page.metadata?.continue === '' ? undefined : page.metadata?.continue;
  } while (continueToken !== undefined);
  return items;
}

/** Readers throw on malformed objects; the doctor skips them (MIC does too). */
function readAll<T>(items: readonly unknown[], reader: (raw: unknown) => T): T[] {
  const read: T[] = [];
  for (const item of items) {
    try {
      read.push(reader(item));
    } catch {
      // skipped, as MIC's informers skip it
    }
  }
  return read;
}

const crPath = (plural: string, namespace?: string): string => `/apis/${GROUP}/${VERSION}${namespace === undefined ? '' : `/namespaces/${namespace}`}/${plural}`;

export interface GatherOptions {
  readonly namespace: string;
  readonly podName: string;
  /** `--namespaced` when given. */
  readonly namespaced: boolean | undefined;
  /** Undefined: do not read ARM (`--skip-azure`). */
  readonly azure: AzureReader | undefined;
  /** `--issuer`: the cluster's service-account issuer (default: the API server's discovery document). */
  readonly issuer?: string | undefined;
  /** `--issuer-ca-file`'s PEM: trusted besides the public roots when fetching the issuer's documents. */
  readonly issuerCaPem?: string | undefined;
  readonly signal?: AbortSignal;
}

/** Reads everything about one pod. An unknown pod is a {@link UsageError}. */
export async function gather(kubeConfig: KubeTarget, options: GatherOptions): Promise<DoctorSnapshot> {
  const { namespace, podName } = options;
  let rawPod: unknown;
  try {
    rawPod = await rawRequest(kubeConfig, { method: 'GET', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(podName)}` });
  } catch (error) {
    if (isStatus(error, 404)) throw new UsageError(`pod ${namespace}/${podName} not found (use -n to choose the namespace)`, { cause: error });
    throw error;
  }
  const pod = projectDoctorPod(rawPod);
  if (pod === undefined) throw new Error(`the API server returned no pod for ${namespace}/${podName}`);

  const [rawBindings, rawIdentities, rawExceptions, rawAssigned, rawNode, rawNmi, micMode] = await Promise.all([
    listAll(kubeConfig, crPath(AZURE_IDENTITY_BINDING.plural)),
    listAll(kubeConfig, crPath(AZURE_IDENTITY.plural)),
    listAll(kubeConfig, crPath(AZURE_POD_IDENTITY_EXCEPTION.plural, namespace)),
    listAll(kubeConfig, crPath(AZURE_ASSIGNED_IDENTITY.plural)),
    pod.info.nodeName === ''
      ? Promise.resolve(undefined)
      : rawRequest(kubeConfig, { method: 'GET', path: `/api/v1/nodes/${encodeURIComponent(pod.info.nodeName)}` }).catch((error: unknown) => {
          if (isStatus(error, 404)) return undefined;
          throw error;
        }),
    pod.info.nodeName === '' ? Promise.resolve([]) : listAll(kubeConfig, '/api/v1/pods', { labelSelector: `${COMPONENT_LABEL}=nmi`, fieldSelector: `spec.nodeName=${pod.info.nodeName}` }),
    readMode(kubeConfig, options.namespaced),
  ]);
  const identities = new Map<string, AzureIdentity>();
  for (const identity of readAll(rawIdentities, (raw) => readAzureIdentity(raw))) identities.set(objectKey(identity.metadata.namespace ?? '', identity.metadata.name ?? ''), identity);
  const assigned = readAll(rawAssigned, (raw) => readAzureAssignedIdentity(raw)).filter((entry) => entry.spec.pod === podName && entry.spec.podNamespace === namespace);
  const projectedNode = rawNode === undefined ? undefined : projectNode(rawNode);
  const base: DoctorSnapshot = {
    pod,
    mode: micMode.mode,
    micNamespace: micMode.micNamespace,
    bindings: readAll(rawBindings, (raw) => readAzureIdentityBinding(raw)),
    identities,
    exceptions: readAll(rawExceptions, readAzurePodIdentityException),
    assigned,
    node:
      projectedNode === undefined
        ? undefined
        : { name: projectedNode.name, compute: projectedNode.compute, providerId: (rawNode as { spec?: { providerID?: string } }).spec?.providerID },
    nmiPods: rawNmi.map(projectNmiPod).filter((nmi): nmi is NmiPod => nmi !== undefined),
    events: [],
    azure: { kind: 'skipped', reason: 'not read yet' },
  };
  const [events, azure, federation] = await Promise.all([readEvents(kubeConfig, base), readAzure(base, options.azure), readFederation(kubeConfig, base, options)]);
  return { ...base, events, azure, ...(federation === undefined ? {} : { federation }) };
}

/** For pods with a federated identity: the cluster's issuer (`--issuer`, else the API server's) and a probe of it. */
async function readFederation(kubeConfig: KubeTarget, snapshot: DoctorSnapshot, options: GatherOptions): Promise<FederationFacts | undefined> {
  if (federatedIdentities(snapshot).length === 0) return undefined;
  let issuer: FederationFacts['issuer'];
  if (options.issuer !== undefined) {
    issuer = { kind: 'known', issuer: options.issuer, source: '--issuer' };
  } else {
    const read = await readClusterIssuer(kubeConfig, options.signal);
    issuer = read.kind === 'ok' ? { kind: 'known', issuer: read.issuer, source: "the API server's discovery document" } : { kind: 'unknown', reason: read.message };
  }
  const probe =
    issuer.kind === 'known' && unusableIssuer(issuer.issuer) === undefined
      ? await probeIssuer(issuer.issuer, { extraCaPem: options.issuerCaPem, signal: options.signal })
      : undefined;
  return { issuer, probe };
}

async function readMode(kubeConfig: KubeTarget, namespaced: boolean | undefined): Promise<{ mode: NamespacedMode; micNamespace: string | undefined }> {
  let deployments: unknown[] = [];
  let problem: string | undefined;
  try {
    deployments = await listAll(kubeConfig, '/apis/apps/v1/deployments', { labelSelector: `${COMPONENT_LABEL}=mic` });
  } catch (error) {
    if (!isStatus(error, 403)) throw error;
    problem = 'cannot list Deployments (forbidden)';
  }
  const detected = modeFromDeployments(deployments);
  if (namespaced !== undefined) return { mode: { forceNamespaced: namespaced, source: 'flag', detail: `--namespaced=${namespaced} given` }, micNamespace: detected.micNamespace };
  if (problem !== undefined) return { mode: { forceNamespaced: false, source: 'default', detail: `${problem}; assuming off (pass --namespaced if MIC runs with --forceNamespaced)` }, micNamespace: undefined };
  return detected;
}

/** Events about the pod, its AAIs, and (when they name one of its AAIs) its bindings. */
async function readEvents(kubeConfig: KubeTarget, snapshot: DoctorSnapshot): Promise<EventInfo[]> {
  const { info } = snapshot.pod;
  const expected = desiredFor(snapshot).assignments;
  const aaiNames = new Set([...expected.map((assignment) => assignment.name), ...snapshot.assigned.map((entry) => entry.metadata.name ?? '')]);
  const objects: { namespace: string; kind: string; name: string; mentions?: boolean }[] = [{ namespace: info.namespace, kind: 'Pod', name: info.name }];
  for (const entry of snapshot.assigned) objects.push({ namespace: entry.metadata.namespace ?? '', kind: 'AzureAssignedIdentity', name: entry.metadata.name ?? '' });
  for (const assignment of expected) {
    objects.push({ namespace: assignment.namespace, kind: 'AzureAssignedIdentity', name: assignment.name });
    objects.push({ namespace: assignment.binding.metadata.namespace ?? '', kind: 'AzureIdentityBinding', name: assignment.binding.metadata.name ?? '', mentions: true });
  }
  const seen = new Set<string>();
  const unique = objects.filter((object) => {
    const key = `${object.namespace}/${object.kind}/${object.name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const batches = await Promise.all(
    unique.map(async (object) => {
      const items = await listAll(kubeConfig, `/api/v1/namespaces/${encodeURIComponent(object.namespace)}/events`, {
        fieldSelector: `involvedObject.kind=${object.kind},involvedObject.name=${object.name}`,
      }).catch((error: unknown) => {
        if (isStatus(error, 403)) return [];
        throw error;
      });
      const events = items.map(projectEvent).filter((event): event is EventInfo => event !== undefined);
      return object.mentions === true ? events.filter((event) => [...aaiNames].some((name) => event.message.includes(name))) : events;
    }),
  );
  return batches.flat();
}

async function readAzure(snapshot: DoctorSnapshot, reader: AzureReader | undefined): Promise<AzureFindings> {
  if (reader === undefined) return { kind: 'skipped', reason: '--skip-azure given' };
  const resourceIds = userAssignedResourceIds(snapshot);
  const federatedIds = federatedIdentities(snapshot);
  if (resourceIds.length === 0 && federatedIds.length === 0) return { kind: 'read', compute: undefined, principal: { kind: 'unknown', reason: 'not needed' }, roles: new Map() };
  const unavailable = await reader.unavailable();
  if (unavailable !== undefined) return { kind: 'unavailable', reason: unavailable };
  const federatedReads = Promise.all(
    federatedIds.map(async (identity) => [identityKey(identity), await reader.readFederatedCredentials({ resourceId: identity.spec.resourceID, clientId: identity.spec.clientID })] as const),
  );
  const withFederated = (entries: readonly (readonly [string, FederatedCredentialsRead])[]): { federated?: ReadonlyMap<string, FederatedCredentialsRead> } =>
    federatedIds.length === 0 ? {} : { federated: new Map(entries) };
  if (resourceIds.length === 0) return { kind: 'read', compute: undefined, principal: { kind: 'unknown', reason: 'not needed' }, roles: new Map(), ...withFederated(await federatedReads) };
  const target = snapshot.node?.compute;
  const [compute, principal, federatedEntries] = await Promise.all([target === undefined ? Promise.resolve(undefined) : reader.readCompute(target), reader.clusterPrincipal(), federatedReads]);
  const roles = new Map(
    principal.kind === 'known' ? await Promise.all(resourceIds.map(async (id) => [id, await reader.readRoles(id, principal.principalId)] as const)) : [],
  );
  return { kind: 'read', compute, principal, roles, ...withFederated(federatedEntries) };
}
