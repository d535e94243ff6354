/**
 * A real cluster on this machine (docs/testing.md, Real node): the project's kube-apiserver + etcd, a
 * kube-controller-manager and kube-scheduler, and nodes that are each a kubelet + containerd (runc) +
 * kube-proxy + CNI bridge inside their own network namespace (layout.ts, network.ts, host.ts). Pods are
 * real containers from images imported into each node; `helm install` works as on any cluster.
 *
 * Everything is removed by stop(), on success and failure, and leftovers of a crashed run (namespaces,
 * cgroups, processes) by the next start.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlPlane, SERVICE_CIDR, type ControlPlane } from '../control-plane.ts';
import { run, type RunOptions, type RunResult } from '../exec.ts';
import { IMDS_IP, OWNERS_DIR, deleteNamespace, ownerAlive, removeLeftoverNamespaces } from '../netns.ts';
import type { ManagedProcess } from '../process.ts';
import { assertCgroupV1, createCgroupRoot, nodeCgroupRoots, removeCgroupRoot } from './cgroups.ts';
import { locateNodeBinaries } from './binaries.ts';
import { startContainerd, type Containerd } from './containerd.ts';
import { startControllers } from './controllers.ts';
import { clusterCaFile, componentKubeconfig } from './credentials.ts';
import { startNodeHost, type NodeHost } from './host.ts';
import { ensurePauseImage, saveImage } from './images.ts';
import { startKubelet, startKubeProxy } from './kubelet.ts';
import { CLUSTER_GATEWAY, hubNamespace, nodeLayout, type NodeLayout } from './layout.ts';
import { addNodeNamespace, createHub, startConnectProxy, startForwarder, type Forward, type Forwarder } from './network.ts';

export interface ClusterNodeSpec {
  /** Node name; the simulated VM's or scale-set instance's computer name. */
  readonly name: string;
  readonly providerId?: string;
  /** The node's IMDS (a loopback listener of the simulator): answers at 169.254.169.254:80 inside the node. */
  readonly imds?: { readonly host: string; readonly port: number };
  readonly labels?: Readonly<Record<string, string>>;
  readonly registerWithTaints?: readonly string[];
}

export interface StartClusterOptions {
  readonly nodes: readonly ClusterNodeSpec[];
  /** podman images every node gets (imported before kubelet starts). */
  readonly images: readonly string[];
  /** Root-namespace loopback services that pods and nodes reach at CLUSTER_GATEWAY:<listenPort>. */
  readonly gatewayServices?: readonly { readonly listenPort: number; readonly target: { readonly host: string; readonly port: number } }[];
  /** Control-plane binaries (default: located as the tests do). */
  readonly binDir?: string;
  /** Called with each step's name and duration (progress for the sandbox). */
  readonly onStep?: (step: string, ms: number) => void;
}

export interface ClusterNode {
  readonly layout: NodeLayout;
  readonly host: NodeHost;
  readonly containerd: Containerd;
  readonly kubelet: ManagedProcess;
  readonly kubeProxy: ManagedProcess;
  /**
   * The forwarder that is the node's IMDS (169.254.169.254:80 on the node's lo); it logs every
   * connection's source address (`{"event":"connection","remoteAddress":…}`), so a test can count pods
   * that reached the node's IMDS directly.
   */
  readonly imdsForwarder: ManagedProcess | undefined;
}

export interface Cluster {
  readonly runId: string;
  readonly dir: string;
  readonly plane: ControlPlane;
  readonly nodes: readonly ClusterNode[];
  readonly hub: string;
  /** The sandbox image every node has (also usable as a do-nothing container). */
  readonly pauseImage: string;
  /** kube-controller-manager and kube-scheduler (their memory is part of what the tier costs). */
  readonly controllerPids: readonly number[];
  /** The API server as pods and nodes dial it (`https://10.200.0.1:<port>`). */
  readonly inClusterServer: string;
  kubectl(args: string[], options?: { readonly input?: string; readonly timeoutMs?: number }): Promise<RunResult>;
  /** Runs a program inside a node's network namespace (root mount namespace), e.g. iptables or curl. */
  execInNode(node: number, file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Kills every process, removes namespaces, cgroups and files. Idempotent. */
  stop(): Promise<void>;
}

/** Cgroups and namespaces of crashed runs (their owner process is gone). */
export async function removeLeftoverClusters(): Promise<void> {
  // Namespaces first: that kills kubelet, containerd, shims and host-network containers.
  await removeLeftoverNamespaces();
  for (const name of await nodeCgroupRoots()) {
    const runId = /^pi-([0-9a-f]{6})-/.exec(name)?.[1] ?? '';
    if (!(await ownerAlive(runId))) await removeCgroupRoot(name);
  }
}

async function waitNodesReady(cluster: Pick<Cluster, 'kubectl' | 'nodes'>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let attempt = 0; attempt < 10_000; attempt++) {
    for (const node of cluster.nodes) {
      for (const proc of [node.kubelet, node.containerd.process, node.kubeProxy]) {
        if (proc.exit() !== undefined) throw new Error(`${proc.name} on ${node.layout.name} exited:\n${await proc.tail(60)}`);
      }
    }
    const got = await cluster.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
    last = got.stdout + got.stderr;
    const ready = new Set(got.stdout.split('\n').filter((line) => line.endsWith('=True')).map((line) => line.split('=')[0]));
    // Pods are refused until the ServiceAccount controller made the namespace's `default` account.
    const account = await cluster.kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']);
    if (cluster.nodes.every((node) => ready.has(node.layout.name)) && account.code === 0) return;
    if (Date.now() > deadline) break;
    await sleep(500);
  }
  const tails = await Promise.all(cluster.nodes.map(async (node) => `--- kubelet ${node.layout.name}\n${await node.kubelet.tail(30)}`));
  throw new Error(`nodes not Ready within ${timeoutMs} ms (last: ${last.trim()})\n${tails.join('\n')}`);
}

export async function startCluster(options: StartClusterOptions): Promise<Cluster> {
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await work();
    options.onStep?.(name, Math.round(performance.now() - t0));
    return result;
  };
  await assertCgroupV1();
  const binaries = await step('node binaries', () => locateNodeBinaries());
  await removeLeftoverClusters();

  const runId = randomBytes(3).toString('hex');
  mkdirSync(OWNERS_DIR, { recursive: true });
  await writeFile(path.join(OWNERS_DIR, runId), `${process.pid}\n`);
  const dir = await mkdtemp(path.join(os.tmpdir(), `pi-${runId}-cluster-`));
  const hub = hubNamespace(runId);
  const layouts = options.nodes.map((spec, index) => nodeLayout(runId, index, spec.name, dir));
  const namespaces: string[] = [];
  const processes: ManagedProcess[] = [];
  const forwarders: Forwarder[] = [];
  const imdsForwarders = new Map<number, ManagedProcess>();
  const hosts: NodeHost[] = [];
  const nodes: ClusterNode[] = [];
  let plane: ControlPlane | undefined;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const errors: unknown[] = [];
      const attempt = async (work: () => Promise<unknown>): Promise<void> => {
        await work().catch((error: unknown) => errors.push(error));
      };
      // Kubelets first (they would restart containers), then runtimes, then everything in the namespaces.
      for (const node of nodes) await attempt(() => node.kubelet.stop(5_000));
      for (const proc of [...processes].reverse()) await attempt(() => proc.stop(5_000));
      for (const forwarder of forwarders) await attempt(() => forwarder.close());
      for (const host of hosts) await attempt(() => host.stop());
      for (const ns of [...namespaces].reverse()) await attempt(() => deleteNamespace(ns));
      for (const layout of layouts) await attempt(() => removeCgroupRoot(layout.cgroupRoot));
      await attempt(async () => plane?.stop());
      process.off('exit', onExit);
      await rm(path.join(OWNERS_DIR, runId), { force: true });
      if (process.env['PI_KEEP_NETNS_LOGS'] !== 'true') await rm(dir, { recursive: true, force: true });
      if (errors.length > 0) throw new AggregateError(errors, `cluster ${runId}: clean-up failed`);
    })();
    return stopping;
  };
  // Last resort when the test process exits without stop(): the next start removes the rest.
  const onExit = (): void => {
    for (const proc of processes) proc.killSync();
  };
  process.once('exit', onExit);

  const egressSocket = path.join(dir, 'egress.sock');
  try {
    plane = await step('control plane', () =>
      startControlPlane({ ...(options.binDir === undefined ? {} : { binDir: options.binDir }), nodes: { advertiseAddress: CLUSTER_GATEWAY, egressSocket } }),
    );
    const controlPlane = plane;
    const apiPort = Number(new URL(controlPlane.server).port);
    const inClusterServer = `https://${CLUSTER_GATEWAY}:${apiPort}`;

    await step('cluster network', async () => {
      await createHub(hub, namespaces);
      for (const layout of layouts) await addNodeNamespace(hub, layout, SERVICE_CIDR, namespaces);
      const forwards: Forward[] = [
        { listen: { host: CLUSTER_GATEWAY, port: apiPort }, target: { host: '127.0.0.1', port: apiPort } },
        ...(options.gatewayServices ?? []).map((service) => ({ listen: { host: CLUSTER_GATEWAY, port: service.listenPort }, target: service.target })),
      ];
      forwarders.push(await startForwarder(hub, 'gateway-forward', forwards, dir));
      processes.push(await startConnectProxy(hub, egressSocket, dir));
      for (const [index, spec] of options.nodes.entries()) {
        const layout = layouts[index];
        if (spec.imds === undefined || layout === undefined) continue;
        const imds = await startForwarder(layout.netns, `imds-forward-${index}`, [{ listen: { host: IMDS_IP, port: 80 }, target: spec.imds }], dir, { logConnections: true });
        forwarders.push(imds);
        imdsForwarders.set(index, imds.process);
      }
    });

    const controllers = await step('controllers', () => startControllers(controlPlane, binaries, dir));
    processes.push(...controllers);
    const imageDir = path.join(dir, 'images');
    await mkdir(imageDir);
    const pauseImage = await ensurePauseImage(binaries.pause, imageDir);
    const images = await step('images saved', async () => {
      const saved = [];
      for (const name of [pauseImage, ...options.images]) saved.push(await saveImage(name, imageDir));
      return saved;
    });

    for (const [index, layout] of layouts.entries()) {
      const spec = options.nodes[index];
      if (spec === undefined) continue;
      await step(`node ${layout.name}`, async () => {
        await createCgroupRoot(layout.cgroupRoot);
        const host = await startNodeHost(layout);
        hosts.push(host);
        const containerd = await startContainerd(host, layout, { pauseImage, runc: binaries.runc });
        processes.push(containerd.process);
        for (const image of images) await containerd.importImage(image.archive);
        const [kubeletKubeconfig, proxyKubeconfig] = await Promise.all([
          componentKubeconfig(controlPlane, { server: inClusterServer, user: `system:node:${layout.name}`, groups: ['system:nodes'], stem: path.join(layout.dir, 'kubelet') }),
          componentKubeconfig(controlPlane, { server: inClusterServer, user: 'system:kube-proxy', stem: path.join(layout.dir, 'kube-proxy') }),
        ]);
        const kubelet = await startKubelet(host, layout, {
          kubelet: binaries.kubelet,
          kubeconfig: kubeletKubeconfig,
          clientCaFile: clusterCaFile(controlPlane),
          ...(spec.providerId === undefined ? {} : { providerId: spec.providerId }),
          ...(spec.labels === undefined ? {} : { labels: spec.labels }),
          ...(spec.registerWithTaints === undefined ? {} : { registerWithTaints: spec.registerWithTaints }),
        });
        processes.push(kubelet);
        const kubeProxy = await startKubeProxy(host, layout, { kubeProxy: binaries.kubeProxy, kubeconfig: proxyKubeconfig });
        processes.push(kubeProxy);
        nodes.push({ layout, host, containerd, kubelet, kubeProxy, imdsForwarder: imdsForwarders.get(index) });
      });
    }

    const cluster: Cluster = {
      runId,
      dir,
      plane: controlPlane,
      nodes,
      hub,
      pauseImage,
      controllerPids: controllers.map((proc) => proc.pid),
      inClusterServer,
      kubectl: (args, o) => controlPlane.kubectl(args, o),
      execInNode: (index, file, args, o) => {
        const layout = layouts[index];
        if (layout === undefined) return Promise.reject(new Error(`no node ${index}`));
        return run('ip', ['netns', 'exec', layout.netns, file, ...args], o);
      },
      stop,
    };
    await step('nodes Ready', () => waitNodesReady(cluster, 180_000));
    return cluster;
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
