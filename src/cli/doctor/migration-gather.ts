/**
 * The I/O of `pod-identity doctor --migration`: reads the CRDs, every MIC and NMI workload (upstream's
 * by image, ours by label or image), upstream's Endpoints leader locks and the Leases beside them, and
 * counts AzureAssignedIdentities. {@link diagnoseMigration} decides.
 * @module
 */
import type { KubeTarget } from '../../kube/access.ts';
import { AZURE_ASSIGNED_IDENTITY, AZURE_IDENTITY, AZURE_IDENTITY_BINDING, AZURE_POD_IDENTITY_EXCEPTION, GROUP, VERSION } from '../../api/index.ts';
import { isStatus, rawRequest } from '../../kube/raw-client.ts';
import { listAll } from './gather.ts';
import { flagValue, type EndpointsLock, type MigrationSnapshot, type MigrationWorkload } from './migration.ts';

/** client-go's Endpoints/ConfigMap leader annotation. */
const LEADER_ANNOTATION = 'control-plane.alpha.kubernetes.io/leader';
const UPSTREAM_LOCK_NAME = 'aad-pod-identity-mic';

interface RawWorkload {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { replicas?: number; template?: { spec?: { containers?: { image?: string; command?: string[]; args?: string[] }[] } } };
  status?: { readyReplicas?: number; numberReady?: number; desiredNumberScheduled?: number };
}

type Owner = 'upstream' | 'ours' | undefined;

/** Upstream by its image path (kept by mirrors); ours by the chart's name label or our image name. */
export function workloadOwner(raw: RawWorkload): Owner {
  const image = raw.spec?.template?.spec?.containers?.[0]?.image ?? '';
  if (/(^|\/)aad-pod-identity\/(mic|nmi)(:|@|$)/.test(image)) return 'upstream';
  if (raw.metadata?.labels?.['app.kubernetes.io/name'] === 'pod-identity' || /(^|\/)pod-identity-(mic|nmi)(:|@|$)/.test(image)) return 'ours';
  return undefined;
}

function projectWorkload(kind: MigrationWorkload['kind'], raw: RawWorkload): MigrationWorkload {
  const container = raw.spec?.template?.spec?.containers?.[0];
  const desired = kind === 'Deployment' ? (raw.spec?.replicas ?? 1) : (raw.status?.desiredNumberScheduled ?? 0);
  const ready = kind === 'Deployment' ? (raw.status?.readyReplicas ?? 0) : (raw.status?.numberReady ?? 0);
  return { kind, namespace: raw.metadata?.namespace ?? '', name: raw.metadata?.name ?? '', args: [...(container?.command ?? []), ...(container?.args ?? [])], desired, ready };
}

/** Parses a leader annotation; undefined when absent or malformed. */
export function parseLeaderRecord(text: string | undefined, now: number): { holder: string; fresh: boolean } | undefined {
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as { holderIdentity?: unknown; leaseDurationSeconds?: unknown; renewTime?: unknown };
    const holder = typeof record.holderIdentity === 'string' ? record.holderIdentity : '';
    const duration = typeof record.leaseDurationSeconds === 'number' ? record.leaseDurationSeconds : 0;
    const renewed = typeof record.renewTime === 'string' ? Date.parse(record.renewTime) : Number.NaN;
    return { holder, fresh: holder !== '' && Number.isFinite(renewed) && now - renewed <= duration * 1000 };
  } catch {
    return undefined;
  }
}

async function crdOwner(kubeConfig: KubeTarget, name: string): Promise<'absent' | 'foreign' | 'ours'> {
  try {
    const crd = (await rawRequest(kubeConfig, { method: 'GET', path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}` })) as { metadata?: { labels?: Record<string, string> } };
    return crd.metadata?.labels?.['app.kubernetes.io/part-of'] === 'pod-identity' ? 'ours' : 'foreign';
  } catch (error) {
    if (isStatus(error, 404)) return 'absent';
    throw error;
  }
}

async function leaseHolder(kubeConfig: KubeTarget, namespace: string, name: string): Promise<string | undefined> {
  try {
    const lease = (await rawRequest(kubeConfig, { method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}` })) as { spec?: { holderIdentity?: string } };
    return lease.spec?.holderIdentity;
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}

/** Reads what {@link diagnoseMigration} needs. */
export async function gatherMigration(kubeConfig: KubeTarget, now = Date.now()): Promise<MigrationSnapshot> {
  const crdNames = [AZURE_IDENTITY, AZURE_IDENTITY_BINDING, AZURE_ASSIGNED_IDENTITY, AZURE_POD_IDENTITY_EXCEPTION].map((kind) => `${kind.plural}.${GROUP}`);
  const [owners, deployments, daemonSets, assigned] = await Promise.all([
    Promise.all(crdNames.map(async (name) => [name, await crdOwner(kubeConfig, name)] as const)),
    listAll(kubeConfig, '/apis/apps/v1/deployments') as Promise<RawWorkload[]>,
    listAll(kubeConfig, '/apis/apps/v1/daemonsets') as Promise<RawWorkload[]>,
    listAll(kubeConfig, `/apis/${GROUP}/${VERSION}/${AZURE_ASSIGNED_IDENTITY.plural}`).catch((error: unknown) => {
      if (isStatus(error, 404)) return [];
      throw error;
    }),
  ]);
  const of = (items: RawWorkload[], kind: MigrationWorkload['kind'], owner: Owner): MigrationWorkload[] => items.filter((item) => workloadOwner(item) === owner).map((item) => projectWorkload(kind, item));
  const ourMic = of(deployments, 'Deployment', 'ours');
  // Upstream's lock name, and any our MICs were told to share.
  const lockNames = new Set([UPSTREAM_LOCK_NAME, ...ourMic.map((mic) => flagValue(mic.args, 'leader-election-name')).filter((name): name is string => name !== undefined && name !== '')]);
  // By name across namespaces: a cluster has an Endpoints object per Service.
  const endpoints = (await Promise.all([...lockNames].map((name) => listAll(kubeConfig, '/api/v1/endpoints', { fieldSelector: `metadata.name=${name}` })))).flat() as {
    metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  }[];
  const endpointsLocks: EndpointsLock[] = [];
  for (const item of endpoints) {
    const name = item.metadata?.name ?? '';
    const namespace = item.metadata?.namespace ?? '';
    const record = parseLeaderRecord(item.metadata?.annotations?.[LEADER_ANNOTATION], now);
    if (record === undefined) continue;
    const holderOfLease = await leaseHolder(kubeConfig, namespace, name);
    endpointsLocks.push({ namespace, name, holder: record.holder, fresh: record.fresh, heldWithLease: holderOfLease !== undefined && holderOfLease === record.holder });
  }
  return {
    crds: new Map(owners),
    upstreamMic: of(deployments, 'Deployment', 'upstream'),
    upstreamNmi: of(daemonSets, 'DaemonSet', 'upstream'),
    ourMic,
    ourNmi: of(daemonSets, 'DaemonSet', 'ours'),
    endpointsLocks,
    assignedIdentities: assigned.length,
  };
}
