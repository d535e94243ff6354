/**
 * MIC against a real API server and the simulated ARM with realistic but scaled ARM latency
 * (VMSS identity operations take `vmssMs`, VMs `vmMs`; real Azure: ~40 s and ~10 s). Measures the
 * TARGETS.md figures: pod → Assigned latency, ARM writes per wave, the 1,000-pod / 50-node /
 * 20-identity convergence, rolling-update churn, idle CPU and memory at 10,000 pods, and leader
 * failover. MIC runs as a real child process; the benchmark watches AAIs with its own informer.
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { readAzureAssignedIdentity, type AzureAssignedIdentity } from '../../src/api/index.ts';
import { Informer } from '../../src/kube/informer.ts';
import { rawLister } from '../../src/kube/raw-client.ts';
import { MicWorld, SUBSCRIPTION, NODE_GROUP, type MicProcess } from '../../test/support/mic-world.ts';
import { useCompiledBuild, wantedScenarios } from '../lib/compiled-build.ts';
import { summarize } from '../lib/stats.ts';
import type { Figure, Suite, SuiteContext } from '../lib/types.ts';

export const LATENCY = { vm: 1000, vmss: 2000 };

/**
 * The runtime settings the images use for MIC (Dockerfile.mic / the chart): a V8 heap sized to the
 * workload and two malloc arenas (glibc otherwise keeps per-thread arenas of freed memory, which
 * shows as RSS). BENCH_MIC_DEFAULT_RUNTIME=1 measures plain `node` instead.
 */
const MIC_RUNTIME_ENV: Record<string, string> =
  process.env['BENCH_MIC_DEFAULT_RUNTIME'] === '1' ? {} : { NODE_OPTIONS: '--max-old-space-size=192 --max-semi-space-size=2', MALLOC_ARENA_MAX: '2' };
const CLK_TCK = 100;

/** Watches AAIs and records when each first reached Assigned. */
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

  async waitForPods(keys: readonly string[], timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (keys.some((key) => !this.assignedAt.has(key))) {
      if (performance.now() > deadline) {
        const missing = keys.filter((key) => !this.assignedAt.has(key));
        throw new Error(`${missing.length} pods not Assigned within ${timeoutMs} ms (e.g. ${missing.slice(0, 3).join(', ')})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Runs `work` over `items` with `limit` in flight. */
export async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
}

export async function activeMic(world: MicWorld, name: string, extra: readonly string[] = []): Promise<MicProcess> {
  const mic = await world.startMic(name, extra, MIC_RUNTIME_ENV);
  const deadline = performance.now() + 60_000;
  while ((await world.health(mic)) !== 'Active') {
    if (performance.now() > deadline) throw new Error(`MIC ${name} never became Active:\n${mic.output().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return mic;
}

/** RSS by kind of mapping (anonymous vs file-backed, the V8 heap cannot be told apart), for diagnosis. */
function rssBreakdown(pid: number): string {
  const totals = new Map<string, number>();
  let current = 'anon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header !== null) {
      const name = header[1] ?? '';
      current = name === '' ? 'anon' : name.startsWith('[') ? name : path.basename(name);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) totals.set(current, (totals.get(current) ?? 0) + Number(rss[1]));
  }
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([name, kb]) => `${name} ${(kb / 1024).toFixed(0)} MB`).join(', ');
}

function processStats(pid: number): { cpuSeconds: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds, rssMb: Number(rss?.[1] ?? 0) / 1024 };
}

export async function seedIdentities(world: MicWorld, namespace: string, count: number, prefix: string): Promise<string[]> {
  const names = Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
  await inParallel(names, 8, async (name) => {
    const azure = await world.azureIdentity(name);
    await world.createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world.createBinding(namespace, name, name, name);
  });
  return names;
}

/** Nodes `extra-<vmss>-<i>` on two more scale sets of `perScaleSet` instances each. */
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

async function latencyScenario(context: SuiteContext, figures: Figure[]): Promise<void> {
  const world = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 1, lroDurationMs: LATENCY });
  const watcher = new AssignedWatcher(world);
  try {
    await activeMic(world, 'mic-latency');
    await watcher.start();
    const ns = await world.namespace('latency');
    const runs = context.quick ? 5 : 20;
    const vmss: number[] = [];
    const known: number[] = [];
    for (let run = 0; run < runs; run++) {
      const [name] = await seedIdentities(world, ns, 1, `lat${run}`);
      const started = performance.now();
      await world.createPod(ns, `new-${run}`, world.scaleSetNodes[0]!, name);
      await watcher.waitForPods([`${ns}/new-${run}`], 30_000);
      vmss.push((watcher.assignedAt.get(`${ns}/new-${run}`) ?? 0) - started);
      // A second pod with the same identity: already on the scale set, no ARM write needed.
      const again = performance.now();
      await world.createPod(ns, `same-${run}`, world.scaleSetNodes[1]!, name);
      await watcher.waitForPods([`${ns}/same-${run}`], 30_000);
      known.push((watcher.assignedAt.get(`${ns}/same-${run}`) ?? 0) - again);
    }
    context.log(`pod → Assigned: new identity median ${summarize(vmss).median.toFixed(0)} ms, known identity median ${summarize(known).median.toFixed(0)} ms`);
    figures.push(
      { name: 'pod → Assigned, identity new to the VMSS', unit: 'ms', summary: summarize(vmss), target: { kind: 'max', value: LATENCY.vmss + 1000, statistic: 'p95', source: 'TARGETS.md: ≤ simulated ARM latency + 1 s (p95)' }, notes: `simulated VMSS latency ${LATENCY.vmss} ms` },
      { name: 'pod → Assigned, identity already on the VMSS', unit: 'ms', summary: summarize(known), notes: 'no ARM write' },
    );
  } finally {
    await watcher.close();
    await world.stop();
  }
}

async function waveScenario(context: SuiteContext, figures: Figure[]): Promise<void> {
  const pods = context.quick ? 200 : 1000;
  const perScaleSet = 25;
  const identities = 20;
  const world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: LATENCY });
  const watcher = new AssignedWatcher(world);
  try {
    const nodes = await addScaleSets(world, 2, perScaleSet);
    const ns = await world.namespace('wave');
    const names = await seedIdentities(world, ns, identities, 'wave');
    await watcher.start();
    // The pods exist before MIC starts (a fresh install or an upgrade): one wave.
    const keys: string[] = [];
    const podSpecs = Array.from({ length: pods }, (_, index) => ({ name: `p${index}`, node: nodes[index % nodes.length]!, identity: names[index % identities]! }));
    await inParallel(podSpecs, 16, async (spec) => {
      await world.createPod(ns, spec.name, spec.node, spec.identity);
      keys.push(`${ns}/${spec.name}`);
    });
    const writesBefore = await world.armWrites();
    const started = performance.now();
    const mic = await activeMic(world, 'mic-wave');
    await watcher.waitForPods(keys, 120_000).catch((error: unknown) => {
      context.log(mic.output().slice(-4000));
      throw error;
    });
    const elapsed = performance.now() - started;
    const writes = (await world.armWrites()) - writesBefore;
    context.log(`${pods} pods / ${nodes.length} nodes in 2 VMSS / ${identities} identities: all Assigned in ${elapsed.toFixed(0)} ms with ${writes} ARM writes`);
    figures.push(
      { name: `${pods} pods, 50 nodes, 2 VMSS, 20 identities → all Assigned`, unit: 'ms', summary: summarize([elapsed]), target: { kind: 'max', value: 3 * LATENCY.vmss + 2000, source: 'TARGETS.md: ≤ 3 × ARM latency + 2 s' }, notes: 'from MIC start (objects pre-existing)' },
      { name: 'ARM writes for that wave', unit: 'writes', summary: summarize([writes]), target: { kind: 'max', value: 2, source: 'TARGETS.md: ≤ T × ceil(changes/150), T = 2' } },
    );

    // Rolling update: replace 10 pods one by one (new first, then old); grace period on.
    const rollWrites = await world.armWrites();
    for (let index = 0; index < 10; index++) {
      const spec = podSpecs[index]!;
      await world.createPod(ns, `${spec.name}-v2`, spec.node, spec.identity);
      await watcher.waitForPods([`${ns}/${spec.name}-v2`], 30_000).catch((error: unknown) => {
        context.log(mic.output().slice(-6000));
        throw error;
      });
      await world.deletePod(ns, spec.name);
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const churn = (await world.armWrites()) - rollWrites;
    context.log(`rolling update of 10 pods: ${churn} ARM writes`);
    figures.push({ name: 'ARM writes while 10 pods of a Deployment roll', unit: 'writes', summary: summarize([churn]), target: { kind: 'max', value: 0, source: 'TARGETS.md: 0' } });
  } finally {
    await watcher.close();
    await world.stop();
  }
}

async function scaleScenario(context: SuiteContext, figures: Figure[]): Promise<void> {
  const pods = context.quick ? 1000 : 10_000;
  const identities = context.quick ? 100 : 1000;
  const world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 200, vmss: 200 } });
  const watcher = new AssignedWatcher(world);
  try {
    const nodes = await addScaleSets(world, 2, 25);
    const ns = await world.namespace('scale');
    const names = await seedIdentities(world, ns, identities, 'scale');
    await watcher.start();
    const mic = await activeMic(world, 'mic-scale', ['--identity-removal-grace-period=30s']);
    const keys: string[] = [];
    const created = performance.now();
    await inParallel(Array.from({ length: pods }, (_, index) => index), 24, async (index) => {
      await world.createPod(ns, `p${index}`, nodes[index % nodes.length]!, names[index % identities]);
      keys.push(`${ns}/p${index}`);
    });
    context.log(`${pods} pods created in ${(performance.now() - created).toFixed(0)} ms`);
    await watcher.waitForPods(keys, 600_000);
    context.log(`all ${pods} pods Assigned ${(performance.now() - created).toFixed(0)} ms after the first was created`);
    // Idle: nothing changes for a while.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const pid = mic.child.pid ?? 0;
    const before = processStats(pid);
    const idleSeconds = context.quick ? 10 : 30;
    const rss: number[] = [];
    for (let second = 0; second < idleSeconds; second++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      rss.push(processStats(pid).rssMb);
    }
    const after = processStats(pid);
    const exposition = await world.metrics(mic);
    const gauge = (name: string): number => Number(new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(exposition)?.[1] ?? Number.NaN) / 2 ** 20;
    context.log(`RSS by mapping: ${rssBreakdown(pid)}`);
    context.log(`heap used ${gauge('nodejs_heap_size_used_bytes').toFixed(0)} MB of ${gauge('nodejs_heap_size_total_bytes').toFixed(0)} MB total; external ${gauge('nodejs_external_memory_bytes').toFixed(0)} MB`);
    const cpuPercent = ((after.cpuSeconds - before.cpuSeconds) / idleSeconds) * 100;
    context.log(`idle ${idleSeconds} s with ${pods} pods: CPU ${cpuPercent.toFixed(2)} % of a core, RSS ${Math.max(...rss).toFixed(0)} MB`);
    figures.push(
      { name: `MIC CPU idle, ${pods} pods`, unit: '% core', summary: summarize([cpuPercent]), target: { kind: 'max', value: 1, source: 'TARGETS.md: < 1 % of a core' } },
      { name: `MIC RSS, ${pods} pods, ${identities} identities/bindings`, unit: 'MB', summary: summarize(rss), target: { kind: 'max', value: 300, statistic: 'max', source: 'TARGETS.md: ≤ 300 MB' } },
    );
  } finally {
    await watcher.close();
    await world.stop();
  }
}

async function failoverScenario(context: SuiteContext, figures: Figure[]): Promise<void> {
  const leaseSeconds = 8;
  const world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 200, vmss: 200 } });
  try {
    const runs = context.quick ? 1 : 3;
    const samples: number[] = [];
    for (let run = 0; run < runs; run++) {
      const args = [`--leader-election-duration=${leaseSeconds}s`];
      const a = await activeMic(world, `mic-a${run}`, args);
      const b = await world.startMic(`mic-b${run}`, args);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const killed = performance.now();
      await a.stop('SIGKILL');
      while ((await world.health(b)) !== 'Active') await new Promise((resolve) => setTimeout(resolve, 25));
      samples.push(performance.now() - killed);
      await b.stop();
    }
    context.log(`failover after SIGKILL: ${samples.map((sample) => sample.toFixed(0)).join(', ')} ms (lease ${leaseSeconds} s)`);
    figures.push({ name: 'leader killed → new leader Active', unit: 'ms', summary: summarize(samples), target: { kind: 'max', value: leaseSeconds * 1000 + 2000, statistic: 'max', source: 'TARGETS.md: ≤ lease duration + 2 s' }, notes: `lease ${leaseSeconds} s` });
  } finally {
    await world.stop();
  }
}

export const micSuite: Suite = {
  name: 'mic',
  description: 'MIC: pod → Assigned latency, ARM writes per wave, 1,000-pod convergence, rollout churn, idle CPU/RSS at 10,000 pods, failover',
  async run(context) {
    useCompiledBuild();
    const figures: Figure[] = [];
    // BENCH_MIC_SCENARIOS=latency,wave,failover,scale picks scenarios (default: all).
    const wanted = wantedScenarios('BENCH_MIC_SCENARIOS', ['latency', 'wave', 'failover', 'scale']);
    if (wanted.has('latency')) await latencyScenario(context, figures);
    if (wanted.has('wave')) await waveScenario(context, figures);
    if (wanted.has('failover')) await failoverScenario(context, figures);
    if (wanted.has('scale')) await scaleScenario(context, figures);
    return { parameters: { vmssLatencyMs: LATENCY.vmss, vmLatencyMs: LATENCY.vm }, figures };
  },
};
