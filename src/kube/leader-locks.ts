/**
 * The objects leader election keeps its record in (the thin I/O half of {@link ./leader-record.ts}):
 * a `coordination.k8s.io/v1` Lease (`leases`), or upstream aad-pod-identity's Endpoints lock together
 * with that Lease (`endpointsleases`, client-go's MultiLock), so that an upstream MIC, which only knows
 * the Endpoints, and ours never lead at the same time.
 *
 * Every write replaces an object with the resourceVersion read in the same round, so a concurrent
 * writer makes it fail (409) and the round ends without the lock. The Endpoints is written before the
 * Lease, as client-go does; unlike client-go the Lease write also carries the version read (client-go
 * re-reads it and overwrites), so a candidate never overwrites a Lease someone took in between.
 * @module
 */
import type { KubeTarget } from './access.ts';
import { isStatus, rawRequest } from './raw-client.ts';
import {
  combineEndpointsAndLease,
  formatEndpointsAnnotation,
  LEADER_ANNOTATION,
  leaseSpecFromRecord,
  observeEndpointsAnnotation,
  observeLease,
  releasedRecord,
  type CombinedRecord,
  type LeaderElectionRecord,
  type LeaseSpec,
} from './leader-record.ts';

/** `--leader-election-resource-lock`. */
export type LeaderLockKind = 'leases' | 'endpointsleases';

export interface LockRef {
  readonly kubeConfig: KubeTarget;
  readonly namespace: string;
  readonly name: string;
}

/** What one read saw: the combined record, and the objects a write replaces. */
export interface LockSnapshot {
  readonly current: CombinedRecord | undefined;
  /** Object → its raw body as read (undefined: absent, to be created). */
  readonly objects: ReadonlyMap<LockPart, KubeObject | undefined>;
}

export type LockPart = 'lease' | 'endpoints';

interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: LeaseSpec;
  [key: string]: unknown;
}

export interface LeaderLock {
  /** `namespace/name (kind)`, for logs. */
  readonly description: string;
  read(signal: AbortSignal): Promise<LockSnapshot>;
  /** Writes `record` into every part; false when another writer got there first (409). */
  write(record: LeaderElectionRecord, snapshot: LockSnapshot, signal: AbortSignal): Promise<boolean>;
  /** Empties the holder of every part that names `identity`; true when something was released. */
  release(identity: string, now: number, signal?: AbortSignal): Promise<boolean>;
}

const PATHS: Record<LockPart, (namespace: string) => string> = {
  lease: (namespace) => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
  endpoints: (namespace) => `/api/v1/namespaces/${namespace}/endpoints`,
};

async function getOrAbsent(ref: LockRef, part: LockPart, signal?: AbortSignal): Promise<KubeObject | undefined> {
  try {
    return (await rawRequest(ref.kubeConfig, { method: 'GET', path: `${PATHS[part](ref.namespace)}/${ref.name}`, ...(signal === undefined ? {} : { signal }) })) as KubeObject;
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}

/** `existing` with `record` in it, or a new object holding `record`. */
function withRecord(ref: LockRef, part: LockPart, existing: KubeObject | undefined, record: LeaderElectionRecord): KubeObject {
  if (part === 'lease') {
    const base = existing ?? { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: ref.name, namespace: ref.namespace } };
    return { ...base, spec: leaseSpecFromRecord(record) };
  }
  const base = existing ?? { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: ref.name, namespace: ref.namespace } };
  return { ...base, metadata: { ...base.metadata, annotations: { ...base.metadata.annotations, [LEADER_ANNOTATION]: formatEndpointsAnnotation(record) } } };
}

/** Creates (POST) or replaces (PUT with the version read) one part; false on 409. */
async function writePart(ref: LockRef, part: LockPart, existing: KubeObject | undefined, record: LeaderElectionRecord, signal?: AbortSignal): Promise<boolean> {
  const body = withRecord(ref, part, existing, record);
  try {
    await rawRequest(ref.kubeConfig, {
      method: existing === undefined ? 'POST' : 'PUT',
      path: existing === undefined ? PATHS[part](ref.namespace) : `${PATHS[part](ref.namespace)}/${ref.name}`,
      body,
      ...(signal === undefined ? {} : { signal }),
    });
    return true;
  } catch (error) {
    if (isStatus(error, 409)) return false;
    throw error;
  }
}

function recordOf(part: LockPart, object: KubeObject): LeaderElectionRecord {
  return part === 'lease' ? observeLease(object.spec).record : observeEndpointsAnnotation(object.metadata.annotations?.[LEADER_ANNOTATION]).record;
}

/** The lock of `--leader-election-resource-lock=<kind>`; the parts are written in this order. */
export function leaderLock(kind: LeaderLockKind, ref: LockRef): LeaderLock {
  const parts: readonly LockPart[] = kind === 'leases' ? ['lease'] : ['endpoints', 'lease'];
  return {
    description: `${ref.namespace}/${ref.name} (${kind === 'leases' ? 'Lease' : 'Endpoints + Lease'})`,

    async read(signal) {
      const objects = new Map<LockPart, KubeObject | undefined>();
      for (const part of parts) objects.set(part, await getOrAbsent(ref, part, signal));
      const lease = objects.get('lease');
      const leaseRecord = lease === undefined ? undefined : observeLease(lease.spec);
      if (kind === 'leases') {
        return { objects, current: leaseRecord === undefined ? undefined : { record: leaseRecord.record, key: leaseRecord.raw } };
      }
      const endpoints = objects.get('endpoints');
      const endpointsRecord = endpoints === undefined ? undefined : observeEndpointsAnnotation(endpoints.metadata.annotations?.[LEADER_ANNOTATION]);
      return { objects, current: combineEndpointsAndLease(endpointsRecord, leaseRecord) };
    },

    async write(record, snapshot, signal) {
      for (const part of parts) {
        if (!(await writePart(ref, part, snapshot.objects.get(part), record, signal))) return false;
      }
      return true;
    },

    async release(identity, now, signal) {
      let released = false;
      for (const part of parts) {
        const object = await getOrAbsent(ref, part, signal);
        if (object === undefined) continue;
        const record = recordOf(part, object);
        if (record.holderIdentity !== identity) continue;
        released = (await writePart(ref, part, object, releasedRecord(record, now), signal)) || released;
      }
      return released;
    },
  };
}
