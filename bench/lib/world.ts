/**
 * What the suites do with a MicWorld (test/support/mic-world.ts): start MIC as the image runs it and
 * wait for it to lead, seed identities and bindings, add scale sets, wait for AAIs. One copy for the
 * mic, nmi, federated and soak suites.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { readAzureAssignedIdentity, type AzureAssignedIdentity } from '../../src/api/index.ts';
import { Informer } from '../../src/kube/informer.ts';
import { rawLister } from '../../src/kube/raw-client.ts';
import { NODE_GROUP, SUBSCRIPTION, type MicProcess, type MicWorld } from '../../test/support/mic-world.ts';
import { imageRuntime } from './runtime-settings.ts';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` over `items` with `limit` in flight. */
export async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
}

/**
 * Starts MIC (by default with the image's runtime settings, Dockerfile.mic) and waits until it leads.
 * A 30 s lease (`extra` may set another): the harness's 4 s one is lost when the shared machine's API
 * server is slow under a benchmark's load, and MIC then exits by design.
 */
export async function activeMic(world: MicWorld, name: string, extra: readonly string[] = [], env: Readonly<Record<string, string>> = imageRuntime('mic').env): Promise<MicProcess> {
  const mic = await world.startMic(name, ['--leader-election-duration=30s', ...extra], { ...env });
  const deadline = performance.now() + 60_000;
  while ((await world.health(mic)) !== 'Active') {
    if (performance.now() > deadline) throw new Error(`MIC ${name} never became Active:\n${mic.output().slice(-3000)}`);
    await sleep(50);
  }
  return mic;
}

/** `count` identities `<prefix>-<i>`, each with its AzureIdentity and a binding selecting that label. */
export async function seedIdentities(world: MicWorld, namespace: string, count: number, prefix: string): Promise<string[]> {
  const names = Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
  await inParallel(names, 8, async (name) => {
    const azure = await world.azureIdentity(name);
    await world.createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world.createBinding(namespace, name, name, name);
  });
  return names;
}

/** An identity `<namespace>-<name>` in the simulator with its AzureIdentity and a binding selecting label `name`. */
export async function boundIdentity(world: MicWorld, namespace: string, name: string): Promise<{ clientId: string }> {
  const azure = await world.azureIdentity(`${namespace}-${name}`);
  await world.createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await world.createBinding(namespace, name, name, name);
  return azure;
}

/** Nodes `extra-<vmss>-<i>` on `count` more scale sets of `perScaleSet` instances each. */
export async function addScaleSets(world: MicWorld, count: number, perScaleSet: number): Promise<string[]> {
  const nodes: string[] = [];
  for (let set = 0; set < count; set++) {
    const scaleSet = await world.admin.seedVmss({ subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, name: `aks-bench${set}-00000000-vmss`, instances: perScaleSet });
    for (const instance of scaleSet.instances) {
      await world.createNode(instance.computerName, `azure:///subscriptions/${SUBSCRIPTION}/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet.name}/virtualMachines/${instance.instanceId}`);
      nodes.push(instance.computerName);
    }
  }
  return nodes;
}

/** Polls the AAIs until every pod of `pods` in `namespace` has an Assigned one. */
export async function waitAssigned(world: MicWorld, namespace: string, pods: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const assigned = new Set((await world.assignedIdentities()).filter((entry) => entry.spec.podNamespace === namespace && entry.status?.status === 'Assigned').map((entry) => entry.spec.pod));
    if (pods.every((pod) => assigned.has(pod))) return;
    if (performance.now() > deadline) throw new Error(`${pods.filter((pod) => !assigned.has(pod)).length} of ${pods.length} pods in ${namespace} not Assigned within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Watches AAIs and records when each pod's first reached Assigned. */
export class AssignedWatcher {
  readonly assignedAt = new Map<string, number>();
  private readonly informer: Informer<AzureAssignedIdentity>;
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;

  constructor(world: MicWorld) {
    const path = '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities';
    this.informer = new Informer<AzureAssignedIdentity>({
      name: 'bench-aai',
      kubeConfig: world.kc,
      source: { path, list: rawLister(world.kc, path) },
      project: readAzureAssignedIdentity,
      keyOf: (entry) => `${entry.spec.podNamespace}/${entry.spec.pod}/${entry.spec.azureIdentityRef?.metadata.name ?? ''}`,
      resourceVersionOf: (entry) => entry.metadata.resourceVersion ?? '',
      logger: pino({ level: 'silent' }),
    });
    this.informer.onChange((event, entry) => {
      if (event === 'delete' || entry.status?.status !== 'Assigned') return;
      const key = `${entry.spec.podNamespace}/${entry.spec.pod}`;
      if (!this.assignedAt.has(key)) this.assignedAt.set(key, performance.now());
    });
  }

  async start(): Promise<void> {
    this.running = this.informer.run(this.stop.signal);
    await this.informer.waitForSync();
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  /** Waits until every pod of `keys` is Assigned; fails early when `mic` exited. */
  async waitForPods(keys: readonly string[], timeoutMs: number, mic?: MicProcess): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (keys.some((key) => !this.assignedAt.has(key))) {
      if (mic !== undefined && mic.child.exitCode !== null) throw new Error(`MIC ${mic.name} exited (${mic.child.exitCode}) while pods were waiting:\n${mic.output().slice(-2000)}`);
      if (performance.now() > deadline) {
        const missing = keys.filter((key) => !this.assignedAt.has(key));
        throw new Error(`${missing.length} pods not Assigned within ${timeoutMs} ms (e.g. ${missing.slice(0, 3).join(', ')})`);
      }
      await sleep(10);
    }
  }
}
