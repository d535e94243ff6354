/**
 * Addresses and names of a real-node cluster (pure). Every address lives inside network namespaces the
 * cluster creates: a hub namespace holds the cluster network's bridge and the gateway address where
 * the control plane's forwarders listen; each node namespace has one veth into the hub with the node's
 * address, and a CNI bridge for its pods.
 *
 * ```
 * root ns: kube-apiserver, simulator … on 127.0.0.1  ◀── unix sockets ──┐
 * pi-<run>-net (hub):  br0 10.200.0.1/24, forwarder 10.200.0.1:<port>  ─┘
 *     │ veth
 * pi-<run>-node<i>:  eth0 10.200.0.<11+i>/24, lo 169.254.169.254 (IMDS forwarder),
 *                    cni0 10.244.<10+i>.1/24 ── pods 10.244.<10+i>.x
 * ```
 * @module
 */
import path from 'node:path';

/** The hub's address: where nodes and pods reach the API server and the other root-namespace services. */
export const CLUSTER_GATEWAY = '10.200.0.1';
export const CLUSTER_NETWORK = '10.200.0.0/24';
/** All pod subnets (kube-proxy's clusterCIDR). */
export const POD_NETWORK = '10.244.0.0/16';
export const MAX_NODES = 8;

export interface NodeLayout {
  readonly index: number;
  /** Kubernetes node name (and the VM/VMSS instance's computer name). */
  readonly name: string;
  /** Network namespace (`pi-<run>-node<i>`). */
  readonly netns: string;
  /** The node's InternalIP, on its `eth0`. */
  readonly ip: string;
  readonly podSubnet: string;
  /** cgroup (v1) directory under every hierarchy that holds the node's kubepods. */
  readonly cgroupRoot: string;
  /** The hub side of the node's veth. */
  readonly hubLink: string;
  /** State of the node's kubelet, containerd and logs (outside the repo, removed at cleanup). */
  readonly dir: string;
}

export function hubNamespace(runId: string): string {
  return `pi-${runId}-net`;
}

export function nodeLayout(runId: string, index: number, name: string, clusterDir: string): NodeLayout {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_NODES) throw new Error(`node index ${index}: at most ${MAX_NODES} nodes`);
  return {
    index,
    name,
    netns: `pi-${runId}-node${index}`,
    ip: `10.200.0.${11 + index}`,
    podSubnet: `10.244.${10 + index}.0/24`,
    cgroupRoot: `pi-${runId}-node${index}`,
    hubLink: `pi${runId}h${index}`,
    dir: path.join(clusterDir, `node${index}`),
  };
}
