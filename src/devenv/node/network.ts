/**
 * The cluster network (layout.ts): the hub namespace with its bridge, one namespace per node joined to it
 * by a veth, IMDS's address on each node's `lo`, and the forwarders that make root-namespace loopback
 * services (API server, simulator) reachable at the gateway address. Links are created inside the hub
 * with their peer straight into the node: the root namespace gets no link, address, route or rule.
 * @module
 */
import path from 'node:path';
import { runOk } from '../exec.ts';
import { FORWARD_SCRIPT, IMDS_IP, nodeCommand, waitForLogLine } from '../netns.ts';
import { startProcess, type ManagedProcess } from '../process.ts';
import { listenUnixRelay, type UnixRelay } from '../unix-relay.ts';
import { fileURLToPath } from 'node:url';
import { CLUSTER_GATEWAY, CLUSTER_NETWORK, POD_NETWORK, type NodeLayout } from './layout.ts';

const CONNECT_PROXY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './connect-proxy.ts' : './connect-proxy.js', import.meta.url));

export interface Forward {
  /** Address and port to listen on inside the namespace. */
  readonly listen: { readonly host: string; readonly port: number };
  /** A root-namespace loopback service. */
  readonly target: { readonly host: string; readonly port: number };
}

const ip = (args: readonly string[]): Promise<string> => runOk('ip', args, { timeoutMs: 10_000 });
const sysctl = (ns: string, setting: string): Promise<string> => runOk('ip', ['netns', 'exec', ns, 'sysctl', '-qw', setting], { timeoutMs: 10_000 });

async function addNamespace(ns: string, created: string[]): Promise<void> {
  await ip(['netns', 'add', ns]);
  created.push(ns);
  await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** The hub: bridge br0 with the gateway address, forwarding on. `created` collects namespaces for cleanup. */
export async function createHub(hub: string, created: string[]): Promise<void> {
  await addNamespace(hub, created);
  await ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
  await ip(['-n', hub, 'addr', 'add', `${CLUSTER_GATEWAY}/24`, 'dev', 'br0']);
  await ip(['-n', hub, 'link', 'set', 'br0', 'up']);
  await sysctl(hub, 'net.ipv4.ip_forward=1');
}

/**
 * A node namespace on the hub: eth0 with the node's address, IMDS's address on lo, a route to the
 * Service network and to other nodes' pods through the hub (no default route: nothing else is reachable).
 */
export async function addNodeNamespace(hub: string, layout: NodeLayout, serviceNetwork: string, created: string[]): Promise<void> {
  await addNamespace(layout.netns, created);
  await ip(['-n', hub, 'link', 'add', layout.hubLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', layout.netns]);
  await ip(['-n', hub, 'link', 'set', layout.hubLink, 'master', 'br0']);
  await ip(['-n', hub, 'link', 'set', layout.hubLink, 'up']);
  await ip(['-n', layout.netns, 'addr', 'add', `${layout.ip}/24`, 'dev', 'eth0']);
  await ip(['-n', layout.netns, 'link', 'set', 'eth0', 'up']);
  await ip(['-n', layout.netns, 'addr', 'add', `${IMDS_IP}/32`, 'dev', 'lo']);
  // Host-network clients of a Service IP need a route before kube-proxy's OUTPUT DNAT rewrites it.
  await ip(['-n', layout.netns, 'route', 'add', serviceNetwork, 'via', CLUSTER_GATEWAY]);
  await ip(['-n', layout.netns, 'route', 'add', POD_NETWORK, 'via', CLUSTER_GATEWAY]);
  await ip(['-n', hub, 'route', 'add', layout.podSubnet, 'via', layout.ip]);
  await sysctl(layout.netns, 'net.ipv4.ip_forward=1');
}

export interface Forwarder {
  readonly process: ManagedProcess;
  close(): Promise<void>;
}

/** One forwarder process inside `ns` for all `forwards` (netns-forward.ts), with its root-side relays. */
export async function startForwarder(ns: string, name: string, forwards: readonly Forward[], dir: string, options: { readonly logConnections?: boolean } = {}): Promise<Forwarder> {
  const relays: UnixRelay[] = [];
  const close = async (proc?: ManagedProcess): Promise<void> => {
    await proc?.stop(2_000);
    await Promise.all(relays.map((relay) => relay.close()));
  };
  try {
    for (const [index, forward] of forwards.entries()) {
      relays.push(await listenUnixRelay(path.join(dir, `${name}-${index}.sock`), forward.target));
    }
    const args = forwards.flatMap((forward, index) => ['--listen', `${forward.listen.host}:${forward.listen.port}`, '--unix', relays[index]?.socketPath ?? '']);
    const [file, nodeArgs] = nodeCommand(FORWARD_SCRIPT, [...args, ...(options.logConnections === true ? ['--log-connections'] : [])]);
    const proc = await startProcess({ name, file: 'ip', args: ['netns', 'exec', ns, file, ...nodeArgs], dir });
    try {
      await waitForLogLine(proc, (line) => line.includes('"event":"listening"'));
    } catch (error) {
      await close(proc);
      throw error;
    }
    return { process: proc, close: () => close(proc) };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The API server's egress proxy (connect-proxy.ts) inside the hub, on `socketPath`. */
export async function startConnectProxy(hub: string, socketPath: string, dir: string): Promise<ManagedProcess> {
  const [file, args] = nodeCommand(CONNECT_PROXY, ['--unix', socketPath, '--allow', CLUSTER_NETWORK, '--allow', POD_NETWORK]);
  const proc = await startProcess({ name: 'egress-proxy', file: 'ip', args: ['netns', 'exec', hub, file, ...args], dir });
  try {
    await waitForLogLine(proc, (line) => line.includes('"event":"listening"'));
  } catch (error) {
    await proc.stop(1_000);
    throw error;
  }
  return proc;
}
