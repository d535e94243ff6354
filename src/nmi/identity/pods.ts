/**
 * The pods of this node as NMI sees them, and which pod a source IP belongs to (upstream §3.5, fixed):
 * only Pending or Running pods, every address in `status.podIPs` (IPv6 too, not just `podIP`), never a
 * hostNetwork pod (it shares the node's address, so a match would hand the node's callers its
 * identity), and an address claimed by more than one pod is refused rather than guessed. A pod that is
 * being deleted (deletionTimestamp set) is never served: once its containers stop, the kubelet frees
 * its address, and a new pod may already send from it while the API still shows the old pod Running
 * (the new pod's IP is written later) — upstream handed that new pod the old pod's identity.
 * @module
 */
import { BINDING_LABEL } from '../../api/index.ts';

/** The fields of a pod that NMI uses. */
export interface NodePod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly phase: string;
  /** `status.podIPs` (else `status.podIP`), canonical text. */
  readonly ips: readonly string[];
  readonly hostNetwork: boolean;
  /** `metadata.deletionTimestamp` is set: the pod is going away and its address may be reused. */
  readonly terminating: boolean;
  /** Name of the owning ReplicaSet, if any (the MIC self-exception looks at it). */
  readonly replicaSet: string | undefined;
}

interface RawPod {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    deletionTimestamp?: string | null;
    labels?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
  };
  spec?: { hostNetwork?: boolean };
  status?: { phase?: string; podIP?: string; podIPs?: { ip?: string }[] };
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) → `10.0.0.1`; IPv6 lower-cased. */
export function canonicalIp(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice('::ffff:'.length) : lower;
}

/** Projects a raw pod from the API to {@link NodePod}; undefined when it has no name. */
export function projectNodePod(raw: unknown): NodePod | undefined {
  const pod = raw as RawPod;
  const metadata = pod.metadata;
  if (metadata?.name === undefined || metadata.namespace === undefined) return undefined;
  const listed = (pod.status?.podIPs ?? []).map((entry) => entry.ip).filter((ip): ip is string => ip !== undefined && ip !== '');
  const single = pod.status?.podIP;
  const ips = listed.length > 0 ? listed : single !== undefined && single !== '' ? [single] : [];
  const owner = metadata.ownerReferences?.find((reference) => reference.kind === 'ReplicaSet' && reference.controller !== false);
  // Keep only the label NMI matches on (and the rest for exceptions): labels are small.
  return {
    namespace: metadata.namespace,
    name: metadata.name,
    uid: metadata.uid ?? '',
    resourceVersion: metadata.resourceVersion ?? '',
    labels: metadata.labels ?? {},
    phase: pod.status?.phase ?? '',
    ips: [...new Set(ips.map(canonicalIp))],
    hostNetwork: pod.spec?.hostNetwork === true,
    terminating: metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null,
    replicaSet: owner?.name,
  };
}

/** Whether a pod may be found by its address at all. */
export function servesByAddress(pod: NodePod): boolean {
  return !pod.hostNetwork && (pod.phase === 'Pending' || pod.phase === 'Running');
}

export type PodMatch =
  | { readonly kind: 'pod'; readonly pod: NodePod }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'ambiguous'; readonly count: number }
  /** The only pod with the address is being deleted: the caller may be a new pod the API does not show yet. */
  | { readonly kind: 'terminating'; readonly pod: NodePod };

/**
 * Which of `pods` has address `ip`; pure (the index below is the incremental version). A terminating
 * pod still counts towards ambiguity: with it and a new pod on one address, neither is served.
 */
export function matchPodByIp(ip: string, pods: Iterable<NodePod>): PodMatch {
  const wanted = canonicalIp(ip);
  const found: NodePod[] = [];
  for (const pod of pods) if (servesByAddress(pod) && pod.ips.includes(wanted)) found.push(pod);
  const [only] = found;
  if (only === undefined) return { kind: 'unknown' };
  if (found.length > 1) return { kind: 'ambiguous', count: found.length };
  return only.terminating ? { kind: 'terminating', pod: only } : { kind: 'pod', pod: only };
}

const podKey = (pod: NodePod): string => `${pod.namespace}/${pod.name}`;

/** Pods by address, kept up to date from informer events (O(1) lookups on the hot path). */
export class PodAddressIndex {
  private readonly byIp = new Map<string, Map<string, NodePod>>();

  /** Applies one informer event. */
  apply(event: 'add' | 'update' | 'delete', pod: NodePod, old: NodePod | undefined): void {
    if (old !== undefined) this.remove(old);
    if (event === 'delete') this.remove(pod);
    else this.add(pod);
  }

  lookup(ip: string): PodMatch {
    const entries = this.byIp.get(canonicalIp(ip));
    return matchPodByIp(ip, entries?.values() ?? []);
  }

  /** Distinct addresses indexed. */
  get size(): number {
    return this.byIp.size;
  }

  private add(pod: NodePod): void {
    for (const ip of pod.ips) {
      let entries = this.byIp.get(ip);
      if (entries === undefined) {
        entries = new Map();
        this.byIp.set(ip, entries);
      }
      entries.set(podKey(pod), pod);
    }
  }

  private remove(pod: NodePod): void {
    for (const ip of pod.ips) {
      const entries = this.byIp.get(ip);
      if (entries === undefined) continue;
      entries.delete(podKey(pod));
      if (entries.size === 0) this.byIp.delete(ip);
    }
  }
}

/** The pod's `aadpodidbinding` label, if any. */
export function bindingLabelOf(pod: NodePod): string | undefined {
  return pod.labels[BINDING_LABEL];
}
