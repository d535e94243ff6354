/**
 * Nodes of a mixed cluster in network namespaces (test/e2e/mixed-cluster.test.ts): each node is its own
 * topology (node namespace + pod namespaces) that reaches the world's API server and its own simulated
 * IMDS, the latter through the relay on 169.254.169.254:80 that logs who connected. Plus the small
 * reads the test makes about a node and the leader locks.
 * @module
 */
import { isStatus, rawRequest } from '../../src/kube/raw-client.ts';
import type { NetnsTopology, PodNamespace } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import type { MicWorld } from './mic-world.ts';
import { curlToken, relayConnections, startImdsRelay, type CurlResult } from './nmi-e2e.ts';

export interface SimNode {
  readonly name: string;
  readonly topo: NetnsTopology;
  /** The node's IMDS as pods would see it: every connection's peer is logged. */
  readonly relay: ManagedProcess;
}

/** Makes the world's API server and `name`'s simulated IMDS reachable in `topo`'s node namespace. */
export async function attachNode(world: MicWorld, topo: NetnsTopology, name: string): Promise<SimNode> {
  const apiPort = Number(new URL(world.kc.getCurrentCluster()?.server ?? '').port);
  await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: apiPort, target: { host: '127.0.0.1', port: apiPort } });
  const imds = new URL((await world.sim.startImds(name)).url);
  await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: Number(imds.port), target: { host: imds.hostname, port: Number(imds.port) } });
  return { name, topo, relay: await startImdsRelay(topo, `127.0.0.1:${imds.port}`) };
}

/** Connections at the node's IMDS split into those from its pods (must be 0) and the rest (its NMI). */
export async function imdsConnections(node: SimNode): Promise<{ fromPods: string[]; fromNode: number }> {
  const pods = new Set(node.topo.pods.map((pod) => pod.ip));
  const all = await relayConnections(node.relay);
  return { fromPods: all.filter((address) => pods.has(address)), fromNode: all.filter((address) => !pods.has(address)).length };
}

/** The chains PREROUTING jumps to in the node namespace, in order. */
export async function preroutingJumps(topo: NetnsTopology): Promise<string[]> {
  const listing = await topo.execOk(topo.node, 'iptables', ['-w', '5', '-t', 'nat', '-S', 'PREROUTING'], { timeoutMs: 10_000 });
  return listing
    .split('\n')
    .filter((line) => line.startsWith('-A PREROUTING -j '))
    .map((line) => line.slice('-A PREROUTING -j '.length).trim());
}

/** HTTP status of a GET on the node namespace's loopback (NMI's probes); 0 when nothing answers. */
export async function nodeGetStatus(topo: NetnsTopology, port: number, urlPath: string): Promise<number> {
  const result = await topo.exec(topo.node, 'curl', ['-s', '-o', '/dev/null', '--noproxy', '*', '--max-time', '2', '-w', '%{http_code}', `http://127.0.0.1:${String(port)}${urlPath}`], { timeoutMs: 10_000 });
  return result.code === 0 ? Number(result.stdout.trim()) : 0;
}

export interface FirstToken {
  readonly response: CurlResult;
  /** From `since` to the answer with the token. */
  readonly ms: number;
  /** Requests it took (the ones before were refused while MIC assigned the identity). */
  readonly requests: number;
}

/** Asks for an ARM token from `pod` until one comes (bounded in time and count). */
export async function firstToken(topo: NetnsTopology, pod: PodNamespace, query: Record<string, string>, since: number, timeoutMs = 90_000): Promise<FirstToken> {
  let last: CurlResult | undefined;
  for (let requests = 1; requests <= 200; requests++) {
    last = await curlToken(topo, pod, query);
    if (last.status === 200) return { response: last, ms: Math.round(performance.now() - since), requests };
    if (performance.now() - since > timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no token for ${pod.name} within ${String(timeoutMs)} ms; last answer: curl exit ${String(last?.exit)}, HTTP ${String(last?.status)} ${last?.body ?? ''} ${last?.stderr ?? ''}`);
}

/** Holder of upstream's Endpoints lock record in `namespace/name`; '' when there is none. */
export async function endpointsHolder(world: MicWorld, namespace: string, name: string): Promise<string> {
  const endpoints = (await rawRequest(world.kc, { method: 'GET', path: `/api/v1/namespaces/${namespace}/endpoints/${name}` })) as { metadata: { annotations?: Record<string, string> } };
  const record = endpoints.metadata.annotations?.['control-plane.alpha.kubernetes.io/leader'];
  return record === undefined ? '' : ((JSON.parse(record) as { holderIdentity?: string }).holderIdentity ?? '');
}

/** Holder of the Lease `namespace/name`; undefined when the Lease does not exist. */
export async function leaseHolder(world: MicWorld, namespace: string, name: string): Promise<string | undefined> {
  try {
    const lease = (await rawRequest(world.kc, { method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}` })) as { spec?: { holderIdentity?: string } };
    return lease.spec?.holderIdentity ?? '';
  } catch (error) {
    if (isStatus(error, 404)) return undefined;
    throw error;
  }
}
