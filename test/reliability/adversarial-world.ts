/**
 * The adversarial suite's cluster: a {@link MicWorld} (real kube-apiserver, Azure simulator, MIC at
 * debug level) with two scale-set nodes, each a network namespace with its own NMI (real iptables,
 * debug level), its simulated IMDS on 169.254.169.254:80 and pod namespaces; node 2's NMI runs with
 * `--forceNamespaced`. A veth between the two node namespaces (nothing in the root namespace) routes
 * each node's pod subnets to the other, so a pod can also dial the other node's NMI directly.
 * Both NMIs read a projected service-account token for the federated identities (type 3) of
 * adversarial-federated-setup.ts and reach the simulated Entra ID through a forwarder.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { rawRequest as kubeRequest } from '../../src/kube/raw-client.ts';
import { assertNetnsPrerequisites, createTopology, type NetnsTopology, type PodNamespace } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { MicWorld, type MicProcess } from '../support/mic-world.ts';
import { startImdsRelay, startNodeNmi, waitForNmiServing, waitUntil } from '../support/nmi-e2e.ts';
import type { AdvIdentity } from './adversarial-requests.ts';
import { seedFederatedIdentities, writeNmiTokenFile } from './adversarial-federated-setup.ts';

export interface AdvNode {
  readonly name: string;
  readonly topo: NetnsTopology;
  /** NMI's address (the DNAT target; also the node IP NMI is told about). */
  readonly nodeIp: string;
  readonly namespaced: boolean;
  nmi: ManagedProcess;
  readonly relay: ManagedProcess;
}

export interface AdvWorld {
  readonly world: MicWorld;
  /** Stops MIC (SIGTERM; it releases its lease) and starts a new one: windows with stale assignments. */
  stopMic(): Promise<void>;
  startMic(): Promise<void>;
  readonly nodes: readonly [AdvNode, AdvNode];
  readonly identities: Readonly<Record<string, AdvIdentity>>;
  /** Everything MIC, the NMIs and the relays printed (for the secret scan). */
  outputs(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/** Identities (namespace, short name, binding selector); `N` is annotated namespaced. */
export const IDENTITY_LAYOUT = [
  { name: 'A', namespace: 'adv-a', selector: 'select-a', namespaced: false },
  { name: 'B', namespace: 'adv-a', selector: 'select-b', namespaced: false },
  { name: 'R', namespace: 'adv-a', selector: 'select-r', namespaced: false },
  { name: 'Y', namespace: 'adv-y', selector: 'select-y', namespaced: false },
  { name: 'N', namespace: 'adv-y', selector: 'select-n', namespaced: true },
] as const;

export const NMI_FLAGS = [
  '--v=4',
  '--retry-attempts-for-created=2',
  '--retry-attempts-for-assigned=2',
  '--find-identity-retry-interval=1',
  // The per-pod limit is not what keeps an attacker out: lift it so every attack reaches a decision.
  '--per-pod-requests-per-second=1000',
  '--per-pod-burst=1000',
];

/** Creates a pod (spec.nodeName set, Running with `ip` through the status subresource). */
export async function createAdvPod(world: MicWorld, pod: { namespace: string; name: string; node: string; label?: string; ip: string; hostNetwork?: boolean }): Promise<void> {
  await kubeRequest(world.kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${pod.namespace}/pods`,
    body: {
      metadata: { name: pod.name, namespace: pod.namespace, labels: pod.label === undefined ? {} : { aadpodidbinding: pod.label } },
      spec: { nodeName: pod.node, hostNetwork: pod.hostNetwork === true, containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
    },
  });
  await world.setPodPhase(pod.namespace, pod.name, 'Running', pod.ip);
}

/**
 * Deletes a pod. With `graceSeconds` > 0 the API server only sets deletionTimestamp (there is no
 * kubelet to finish it): the pod stays, Running with its IP, until deleted again with 0.
 */
export async function deleteAdvPod(world: MicWorld, namespace: string, name: string, graceSeconds: number): Promise<void> {
  await kubeRequest(world.kc, { method: 'DELETE', path: `/api/v1/namespaces/${namespace}/pods/${name}`, query: { gracePeriodSeconds: graceSeconds } });
}

async function assigned(world: MicWorld, namespace: string, pod: string, count: number): Promise<boolean> {
  const aais = await world.assignedFor(namespace, pod);
  return aais.length >= count && aais.every((aai) => aai.status?.status === 'Assigned');
}

/** Waits until MIC has assigned `count` identities to the pod. */
export async function waitAssigned(world: MicWorld, namespace: string, pod: string, count = 1, timeoutMs = 60_000): Promise<number> {
  return waitUntil(`MIC to assign ${namespace}/${pod}`, () => assigned(world, namespace, pod, count), timeoutMs, 100);
}

async function connectNodes(a: NetnsTopology, b: NetnsTopology): Promise<void> {
  const ip = (ns: string, args: string[]): Promise<string> => a.execOk(ns, 'ip', args, { timeoutMs: 10_000 });
  const linkA = `pi${a.runId}x`;
  const linkB = `pi${b.runId}x`;
  await a.execOk(a.node, 'ip', ['link', 'add', linkA, 'type', 'veth', 'peer', 'name', linkB, 'netns', b.node]);
  await ip(a.node, ['addr', 'add', '10.250.0.1/30', 'dev', linkA]);
  await ip(a.node, ['link', 'set', linkA, 'up']);
  await b.execOk(b.node, 'ip', ['addr', 'add', '10.250.0.2/30', 'dev', linkB]);
  await b.execOk(b.node, 'ip', ['link', 'set', linkB, 'up']);
  // Node 1's pods are 10.244.1-15.x, node 2's 10.244.21-31.x.
  await ip(a.node, ['route', 'add', '10.244.16.0/20', 'via', '10.250.0.2']);
  await b.execOk(b.node, 'ip', ['route', 'add', '10.244.0.0/20', 'via', '10.250.0.1']);
  for (const [topo, ns] of [[a, a.node], [b, b.node]] as const) await topo.execOk(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
}

async function startNode(world: MicWorld, name: string, topo: NetnsTopology, caFile: string, namespaced: boolean, federatedTokenFile: string): Promise<AdvNode> {
  const apiPort = Number(new URL(world.kc.getCurrentCluster()?.server ?? '').port);
  await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: apiPort, target: { host: '127.0.0.1', port: apiPort } });
  // Federated identities: NMI asks Entra ID (the simulator's authority host) itself.
  const entra = new URL(world.sim.entraUrl);
  await topo.expose(topo.node, { listenHost: entra.hostname, listenPort: Number(entra.port), target: { host: entra.hostname, port: Number(entra.port) } });
  const imds = new URL((await world.sim.startImds(name)).url);
  await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: Number(imds.port), target: { host: imds.hostname, port: Number(imds.port) } });
  const relay = await startImdsRelay(topo, `127.0.0.1:${imds.port}`);
  const nodeIp = (topo.pods[0] as PodNamespace).gateway;
  const nmi = await startNodeNmi(topo, { node: name, kubeconfig: world.plane.kubeconfigPath, dnatIp: nodeIp, caFile, extraArgs: [...NMI_FLAGS, `--federated-token-file=${federatedTokenFile}`, ...(namespaced ? ['--forceNamespaced'] : [])] });
  await waitForNmiServing(topo, nmi, nodeIp, 60_000);
  return { name, topo, nodeIp, namespaced, nmi, relay };
}

/** Builds everything; on failure removes what it made. `podsPerNode` pod namespaces on each node. */
export async function startAdvWorld(podsPerNode: readonly [number, number], log: (message: string) => void): Promise<AdvWorld> {
  await assertNetnsPrerequisites();
  const world = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } });
  const topos: NetnsTopology[] = [];
  const close = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const topo of topos) await topo.cleanup().catch((error: unknown) => errors.push(error));
    await world.stop().catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw new AggregateError(errors, 'adversarial world cleanup failed');
  };
  try {
    const caFile = path.join(world.dir, 'sim-ca.pem');
    writeFileSync(caFile, world.sim.caPem);
    const mics: MicProcess[] = [await world.startMic('mic-adversarial-0', ['--v=4'])];
    const stopMic = async (): Promise<void> => {
      await mics.at(-1)?.stop();
    };
    const startMic = async (): Promise<void> => {
      mics.push(await world.startMic(`mic-adversarial-${String(mics.length)}`, ['--v=4']));
    };
    const identities: Record<string, AdvIdentity> = {};
    for (const layout of IDENTITY_LAYOUT) {
      await world.namespace(layout.namespace);
      const seeded = await world.azureIdentity(`adv-identity-${layout.name.toLowerCase()}`);
      identities[layout.name] = { ...seeded, name: layout.name };
      const annotations = layout.namespaced ? { 'aadpodidentity.k8s.io/Behavior': 'namespaced' } : undefined;
      await world.createIdentity(layout.namespace, `identity-${layout.name.toLowerCase()}`, { type: 0, resourceID: seeded.id, clientID: seeded.clientId }, annotations);
      await world.createBinding(layout.namespace, `binding-${layout.name.toLowerCase()}`, `identity-${layout.name.toLowerCase()}`, layout.selector);
    }
    await world.namespace('adv-x');
    Object.assign(identities, await seedFederatedIdentities(world));
    const federatedTokenFile = await writeNmiTokenFile(world);
    topos.push(await createTopology({ pods: podsPerNode[0], firstSubnet: 1 }));
    topos.push(await createTopology({ pods: podsPerNode[1], firstSubnet: 21 }));
    const [topo1, topo2] = topos as [NetnsTopology, NetnsTopology];
    await connectNodes(topo1, topo2);
    const [name1, name2] = world.scaleSetNodes as [string, string];
    const node1 = await startNode(world, name1, topo1, caFile, false, federatedTokenFile);
    const node2 = await startNode(world, name2, topo2, caFile, true, federatedTokenFile);
    log(`adversarial: world up (nodes ${name1} → ${topo1.node}, ${name2} → ${topo2.node} with --forceNamespaced)`);
    const outputs = async (): Promise<Record<string, string>> => {
      const read = (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '');
      return {
        ...Object.fromEntries(mics.map((mic) => [mic.name, mic.output()])),
        'nmi node1': await read(node1.nmi.logPath),
        'nmi node2': await read(node2.nmi.logPath),
        'imds relay node1': await read(node1.relay.logPath),
        'imds relay node2': await read(node2.relay.logPath),
      };
    };
    return { world, stopMic, startMic, nodes: [node1, node2], identities, outputs, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
