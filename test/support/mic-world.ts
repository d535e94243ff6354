/**
 * A world for MIC integration tests: its own real control plane (with our CRDs), the Azure simulator
 * with a node resource group, a scale set and a VM, Node objects whose providerIDs point at them, a
 * service principal for MIC with the roles upstream documents, an azure.json for MIC, and helpers to
 * run MIC as a real process and to create identities, bindings and pods. The CRDs, the Node objects
 * and MIC's process come from the phases of `pod-identity sandbox` (src/cli/sandbox/phases/), so MIC
 * is started one way in the sandbox and in the tests.
 */
import type { ChildProcess, ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { readAzureAssignedIdentity, type AzureAssignedIdentity } from '../../src/api/index.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { installProjectCrds, waitUntilCrdsServe } from '../../src/cli/sandbox/phases/crds.ts';
import { launchMic, type LaunchedMic } from '../../src/cli/sandbox/phases/mic.ts';
import { registerNode } from '../../src/cli/sandbox/phases/node-object.ts';
import { SimAdminClient } from '../../src/sim/client.ts';
import { startAzureSimulator, type AzureSimulator } from '../../src/sim/simulator.ts';
import type { VirtualMachineScaleSet } from '../../src/sim/state/model.ts';
import { repoRoot } from '../../src/devenv/binaries.ts';
// Used by the fault and leader-election helpers at the end of this file.
import { pino } from 'pino';
import { loadCloudConfig } from '../../src/azure/cloud-config.ts';
import type { ComputeIdentityClient } from '../../src/azure/compute-identity-client.ts';
import { connectAzure } from '../../src/azure/connect.ts';
import type { ComputeTargetRef } from '../../src/azure/provider-id.ts';
import type { RequestLogEntry } from '../../src/sim/http/request-log.ts';
import { startControlPlane, type ControlPlane } from '../../src/devenv/control-plane.ts';
import { installUpstreamCrds } from './upstream-crds.ts';
import { seedMicPrincipal, writeSimAzureJson } from '../../src/sim/azure-json.ts';
import { controlPlane } from '../harness/context.ts';
import { componentNodeFlags } from './component-command.ts';

export const SUBSCRIPTION = '00000000-0000-0000-0000-0000000000aa';
export const NODE_GROUP = 'MC_test_cluster_westeurope';
export const IDENTITY_GROUP = 'identities';

export interface WorldOptions {
  /** VMSS instances (nodes `aks-pool1-12345678-vmss00000<i>`). Default 3. */
  readonly scaleSetNodes?: number;
  /** Standalone VM nodes (`aks-agent-<i>`). Default 1. */
  readonly vmNodes?: number;
  readonly lroDurationMs?: { vm: number; vmss: number };
  readonly enforceRbac?: boolean;
  /** Control-plane binaries; default: the integration run's (inside vitest) or located anew (benchmarks). */
  readonly binDir?: string;
  /** Extra kube-apiserver flags, e.g. `--etcd-compaction-interval=1s --watch-cache=false` so resumed watches get 410 Gone. */
  readonly extraApiServerArgs?: readonly string[];
  /** Which CRDs the cluster starts with: ours (deploy/crds.yaml, default) or upstream v1.8.17's as its chart installs them (a migration's starting state). */
  readonly crds?: 'ours' | 'upstream';
}

/** The binaries of the vitest integration run, when running inside one. */
function providedBinDir(): string | undefined {
  try {
    return controlPlane().binDir;
  } catch {
    return undefined;
  }
}

export interface MicProcess {
  readonly name: string;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly child: ChildProcess;
  /** Everything the process wrote (JSON log lines). */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A MIC child process as a {@link MicProcess}: stop = signal then SIGKILL after 10 s. */
function micHandle(child: ChildProcess, name: string, ports: { healthPort: number; metricsPort: number }, output: () => string, exited: Promise<number | null>): MicProcess {
  return {
    name,
    healthPort: ports.healthPort,
    metricsPort: ports.metricsPort,
    child,
    output,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** A MIC child process with piped output (upstream's, or ours as the chart runs it) as a {@link MicProcess}: its output kept in memory. */
export function micProcess(child: ChildProcessByStdio<null, Readable, Readable>, name: string, healthPort: number, metricsPort: number): MicProcess {
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
  return micHandle(child, name, { healthPort, metricsPort }, () => output, exited);
}

/**
 * Our MIC as the sandbox starts it ({@link launchMic}) as a {@link MicProcess}: its output read back
 * from its log file, and kept once it has exited (the world's dir, the log with it, goes on stop).
 */
function launchedMicProcess(name: string, launched: LaunchedMic): MicProcess {
  const { managed } = launched;
  let kept = '';
  const output = (): string => {
    try {
      return readFileSync(managed.logPath, 'utf8');
    } catch {
      return kept;
    }
  };
  const exited = managed.exited.then((exit) => {
    kept = output();
    return exit.code;
  });
  return micHandle(managed.child, name, launched, output, exited);
}

export class MicWorld {
  readonly plane: ControlPlane;
  readonly sim: AzureSimulator;
  readonly admin: SimAdminClient;
  readonly kc: KubeConfig;
  readonly dir: string;
  readonly scaleSet: VirtualMachineScaleSet;
  readonly scaleSetNodes: string[];
  readonly vmNodes: string[];
  readonly azureJsonPath: string;
  readonly micClientId: string;
  private readonly mics: MicProcess[] = [];

  private constructor(init: {
    plane: ControlPlane; sim: AzureSimulator; kc: KubeConfig; dir: string; scaleSet: VirtualMachineScaleSet;
    scaleSetNodes: string[]; vmNodes: string[]; azureJsonPath: string; micClientId: string;
  }) {
    this.plane = init.plane;
    this.sim = init.sim;
    this.admin = new SimAdminClient(init.sim.adminUrl);
    this.kc = init.kc;
    this.dir = init.dir;
    this.scaleSet = init.scaleSet;
    this.scaleSetNodes = init.scaleSetNodes;
    this.vmNodes = init.vmNodes;
    this.azureJsonPath = init.azureJsonPath;
    this.micClientId = init.micClientId;
  }

  static async start(options: WorldOptions = {}): Promise<MicWorld> {
    const dir = mkdtempSync(path.join(tmpdir(), 'pod-identity-mic-world-'));
    const binDir = options.binDir ?? providedBinDir();
    let plane: ControlPlane;
    try {
      plane = await startControlPlane({
        ...(binDir === undefined ? {} : { binDir }),
        ...(options.extraApiServerArgs === undefined ? {} : { extraApiServerArgs: [...options.extraApiServerArgs] }),
      });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    let sim: AzureSimulator | undefined;
    try {
      const kc = new KubeConfig();
      kc.loadFromFile(plane.kubeconfigPath);
      if (options.crds === 'upstream') {
        await installUpstreamCrds(plane);
        await waitUntilCrdsServe(kc);
      } else {
        await installProjectCrds(plane, kc);
      }
      sim = await startAzureSimulator({ lroDurationMs: options.lroDurationMs ?? { vm: 300, vmss: 600 }, enforceRbac: options.enforceRbac ?? false });
      const admin = new SimAdminClient(sim.adminUrl);
      await admin.seedResourceGroup({ subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP });
      await admin.seedResourceGroup({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP });
      const scaleSet = await admin.seedVmss({ subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, name: 'aks-pool1-12345678-vmss', instances: options.scaleSetNodes ?? 3 });
      const vmNodes: string[] = [];
      for (let index = 0; index < (options.vmNodes ?? 1); index++) {
        const vm = await admin.seedVm({ subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, name: `aks-agent-${index}` });
        vmNodes.push(vm.name);
      }
      const principal = await seedMicPrincipal(admin, { displayName: 'mic', subscriptionId: SUBSCRIPTION, nodeGroup: NODE_GROUP, identityGroup: IDENTITY_GROUP });
      const azureJsonPath = writeSimAzureJson(sim, { dir, subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, clientId: principal.appId, clientSecret: principal.secret });
      const scaleSetNodes = scaleSet.instances.map((instance) => instance.computerName);
      const world = new MicWorld({ plane, sim, kc, dir, scaleSet, scaleSetNodes, vmNodes, azureJsonPath, micClientId: principal.appId });
      for (const [index, name] of scaleSetNodes.entries()) {
        await world.createNode(name, `azure:///subscriptions/${SUBSCRIPTION}/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet.name}/virtualMachines/${scaleSet.instances[index]?.instanceId ?? index}`);
      }
      for (const name of vmNodes) {
        await world.createNode(name, `azure:///subscriptions/${SUBSCRIPTION}/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachines/${name}`);
      }
      return world;
    } catch (error) {
      await sim?.stop();
      await plane.stop();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.mics.map((mic) => mic.stop()));
    await this.sim.stop();
    await this.plane.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  // --- MIC processes ---

  /**
   * Starts MIC (src/mic/main.ts on this Node, or POD_IDENTITY_MIC_ENTRY such as dist/src/mic/main.js,
   * the compiled build as images run it, after the flags of POD_IDENTITY_MIC_NODE_ARGS) the way the sandbox does, with a short leader lease and no
   * identity removal grace; extra flags appended. Its log is in a dir of its own under the world's.
   */
  async startMic(name: string, extraArgs: readonly string[] = [], env: Record<string, string> = {}): Promise<MicProcess> {
    const entry = process.env['POD_IDENTITY_MIC_ENTRY'];
    const launched = await launchMic({
      name,
      dir: mkdtempSync(path.join(this.dir, `${name}-`)),
      kubeconfigPath: this.plane.kubeconfigPath,
      cloudconfigPath: this.azureJsonPath,
      instance: name,
      ...(entry === undefined ? {} : { entry: path.join(repoRoot, entry) }),
      nodeArgs: componentNodeFlags('mic'),
      extraArgs: ['--leader-election-duration=4s', '--identity-removal-grace-period=0s', ...extraArgs],
      env,
    });
    const mic = launchedMicProcess(name, launched);
    this.mics.push(mic);
    return mic;
  }

  /** `/healthz` body of a MIC (`Active` on the leader). */
  async health(mic: MicProcess): Promise<string> {
    try {
      const response = await fetch(`http://127.0.0.1:${mic.healthPort}/healthz`);
      return await response.text();
    } catch {
      return 'unreachable';
    }
  }

  async metrics(mic: MicProcess): Promise<string> {
    return (await fetch(`http://127.0.0.1:${mic.metricsPort}/metrics`)).text();
  }

  // --- Kubernetes objects ---

  async createNode(name: string, providerID: string): Promise<void> {
    await registerNode(this.kc, name, providerID);
  }

  async deleteNode(name: string): Promise<void> {
    await rawRequest(this.kc, { method: 'DELETE', path: `/api/v1/nodes/${name}` });
  }

  async namespace(name: string): Promise<string> {
    await rawRequest(this.kc, { method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name } } }).catch((error: unknown) => {
      if (!String(error).includes('409')) throw error;
    });
    return name;
  }

  /** Seeds a user-assigned identity in the simulator and returns its record. */
  async azureIdentity(name: string): Promise<{ id: string; clientId: string; principalId: string }> {
    return this.admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP, name });
  }

  /** `kubectl apply` of one object (the way users do it). */
  async apply(object: Record<string, unknown>): Promise<void> {
    const file = path.join(this.dir, `${randomUUID()}.json`);
    writeFileSync(file, JSON.stringify(object));
    const result = await this.plane.kubectl(['apply', '-f', file]);
    if (result.code !== 0) throw new Error(`kubectl apply: ${result.stderr}`);
  }

  /**
   * Server-side apply of one of our custom resources in one request: the same create-or-update
   * semantics as `apply`, without a kubectl process (benchmarks create thousands).
   */
  async serverSideApply(object: { kind: string; metadata: { name: string; namespace: string } } & Record<string, unknown>): Promise<void> {
    const plural = object.kind === 'AzureIdentity' ? 'azureidentities' : object.kind === 'AzureIdentityBinding' ? 'azureidentitybindings' : undefined;
    if (plural === undefined) throw new Error(`serverSideApply: unsupported kind ${object.kind}`);
    await rawRequest(this.kc, {
      method: 'PATCH',
      path: `/apis/aadpodidentity.k8s.io/v1/namespaces/${object.metadata.namespace}/${plural}/${object.metadata.name}`,
      query: { fieldManager: 'pod-identity-tests', force: true },
      contentType: 'application/apply-patch+yaml',
      body: object,
    });
  }

  async createIdentity(namespace: string, name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): Promise<void> {
    await this.serverSideApply({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name, namespace, ...(annotations === undefined ? {} : { annotations }) }, spec });
  }

  async createBinding(namespace: string, name: string, identity: string, selector: string): Promise<void> {
    await this.serverSideApply({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', metadata: { name, namespace }, spec: { azureIdentity: identity, selector } });
  }

  /** Creates a scheduled pod and marks it Running through the status subresource (there is no kubelet). */
  async createPod(namespace: string, name: string, node: string, label: string | undefined, options: { readinessGate?: boolean; ip?: string } = {}): Promise<void> {
    await rawRequest(this.kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/pods`,
      body: {
        metadata: { name, namespace, labels: label === undefined ? {} : { aadpodidbinding: label } },
        spec: {
          nodeName: node,
          containers: [{ name: 'app', image: 'example.invalid/app:1' }],
          ...(options.readinessGate === true ? { readinessGates: [{ conditionType: 'aadpodidentity.k8s.io/identity-ready' }] } : {}),
        },
      },
    });
    await this.setPodPhase(namespace, name, 'Running', options.ip);
  }

  async setPodPhase(namespace: string, name: string, phase: string, ip?: string): Promise<void> {
    await rawRequest(this.kc, {
      method: 'PATCH',
      path: `/api/v1/namespaces/${namespace}/pods/${name}/status`,
      contentType: 'application/merge-patch+json',
      body: { status: { phase, ...(ip === undefined ? {} : { podIP: ip, podIPs: [{ ip }] }) } },
    });
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await rawRequest(this.kc, { method: 'DELETE', path: `/api/v1/namespaces/${namespace}/pods/${name}`, query: { gracePeriodSeconds: 0 } });
  }

  async labelPod(namespace: string, name: string, label: string | null): Promise<void> {
    await rawRequest(this.kc, {
      method: 'PATCH',
      path: `/api/v1/namespaces/${namespace}/pods/${name}`,
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { aadpodidbinding: label } } },
    });
  }

  async podCondition(namespace: string, name: string, type: string): Promise<{ status?: string; reason?: string } | undefined> {
    const pod = (await rawRequest(this.kc, { method: 'GET', path: `/api/v1/namespaces/${namespace}/pods/${name}` })) as { status?: { conditions?: { type: string; status?: string; reason?: string }[] } };
    return pod.status?.conditions?.find((condition) => condition.type === type);
  }

  /** All AAIs, normalised. */
  async assignedIdentities(): Promise<AzureAssignedIdentity[]> {
    const list = (await rawRequest(this.kc, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities' })) as { items: unknown[] };
    return list.items.map(readAzureAssignedIdentity);
  }

  /** AAIs of one pod. */
  async assignedFor(namespace: string, pod: string): Promise<AzureAssignedIdentity[]> {
    return (await this.assignedIdentities()).filter((entry) => entry.spec.podNamespace === namespace && entry.spec.pod === pod);
  }

  /** Lower-cased user-assigned identity IDs on the scale set, from the simulator. */
  scaleSetIdentities(): string[] {
    const resource = this.sim.store.getCompute(this.scaleSet.id);
    return (resource?.identity.userAssignedIdentities ?? []).map((id) => id.toLowerCase()).sort();
  }

  vmIdentities(name: string): string[] {
    const id = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachines/${name}`;
    return (this.sim.store.getCompute(id)?.identity.userAssignedIdentities ?? []).map((entry) => entry.toLowerCase()).sort();
  }

  /** ARM writes (PATCH/PUT on compute) the simulator has seen so far. */
  async armWrites(): Promise<number> {
    const { entries } = await this.admin.requests({ service: 'arm' });
    return entries.filter((entry) => (entry.method === 'PATCH' || entry.method === 'PUT') && /microsoft\.compute/i.test(entry.path)).length;
  }
}

// -------------------------------------------------------------------------------------------------
// Fault and leader-election helpers (test/integration/mic/faults.test.ts, leader.test.ts).
// Free functions over a MicWorld, kept apart from the class so other helpers can grow independently.
// -------------------------------------------------------------------------------------------------

/** The world's scale set as an ARM target. */
export function scaleSetTarget(world: MicWorld): ComputeTargetRef {
  return { kind: 'vmss', subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, name: world.scaleSet.name };
}

/** ARM ID of a user-assigned identity in the identity resource group, whether it exists in the simulator or not. */
export function identityResourceId(name: string): string {
  return `/subscriptions/${SUBSCRIPTION}/resourceGroups/${IDENTITY_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
}

/**
 * A second ARM client with MIC's credentials (from the world's azure.json): "someone else" changing
 * the scale set — an operator, an AKS upgrade — for conflicts and drift. Its own throttle gate and caches.
 */
export async function outOfBandArm(world: MicWorld): Promise<ComputeIdentityClient> {
  const config = await loadCloudConfig({ path: world.azureJsonPath, env: {} });
  return (await connectAzure(config, { logger: pino({ level: 'silent' }), pollIntervalMs: 100, stateFreshnessMs: 0, transientRetry: { maxRetries: 0, baseDelayMs: 100, maxDelayMs: 100 } })).compute;
}

/** The simulator's latest request sequence number (entries after it are "new"). */
export async function lastRequestSeq(world: MicWorld): Promise<number> {
  return (await world.admin.requests({ limit: 1 })).lastSeq;
}

/** ARM requests logged after `since` (all of them when omitted), oldest first. */
export async function armRequests(world: MicWorld, since?: number): Promise<RequestLogEntry[]> {
  return (await world.admin.requests({ service: 'arm', ...(since === undefined ? {} : { since }) })).entries;
}

/** Counts of ARM requests by kind: compute GETs, compute PATCH/PUT, operation polls, and the total. */
export function countArm(entries: readonly RequestLogEntry[]): { reads: number; writes: number; polls: number; total: number } {
  const compute = (entry: RequestLogEntry): boolean => /microsoft\.compute\/(virtualmachines|virtualmachinescalesets)\//i.test(entry.path);
  return {
    reads: entries.filter((entry) => entry.method === 'GET' && compute(entry)).length,
    writes: entries.filter((entry) => (entry.method === 'PATCH' || entry.method === 'PUT') && compute(entry)).length,
    polls: entries.filter((entry) => entry.method === 'GET' && /\/operations\//i.test(entry.path)).length,
    total: entries.length,
  };
}

/** A core/v1 Event, the fields tests look at. */
export interface EventView {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly count: number;
  readonly involvedObject: { kind: string; name: string; namespace?: string };
}

/** Events about object `name` of `kind` in `namespace`. */
export async function eventsAbout(world: MicWorld, namespace: string, kind: string, name: string): Promise<EventView[]> {
  const list = (await rawRequest(world.kc, { method: 'GET', path: `/api/v1/namespaces/${namespace}/events` })) as { items: EventView[] };
  return list.items.filter((event) => event.involvedObject.kind === kind && event.involvedObject.name === name);
}

/** Whether the MIC process is still running (not exited, not killed). */
export function isRunning(mic: MicProcess): boolean {
  return mic.child.exitCode === null && mic.child.signalCode === null;
}

/** Polls `/healthz` every `intervalMs` until it answers `body`; resolves with the ms it took, rejects after `timeoutMs`. */
export async function waitForHealth(world: MicWorld, mic: MicProcess, body: string, timeoutMs: number, intervalMs = 50): Promise<number> {
  const started = performance.now();
  for (;;) {
    if ((await world.health(mic)) === body) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`${mic.name}: /healthz did not answer ${body} within ${timeoutMs} ms (last: ${await world.health(mic)})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The holder of MIC's leader Lease (kube-system/aad-pod-identity-mic), '' when released or absent. */
export async function leaseHolder(world: MicWorld): Promise<string> {
  try {
    const lease = (await rawRequest(world.kc, { method: 'GET', path: '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/aad-pod-identity-mic' })) as { spec?: { holderIdentity?: string } };
    return lease.spec?.holderIdentity ?? '';
  } catch {
    return '';
  }
}
