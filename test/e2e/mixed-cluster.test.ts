/**
 * A mixed cluster in the middle of a rolling switch (issue 19, point 4): node A still runs the archived
 * project's own v1.8.17 NMI, node B already runs ours, each node its own network namespace with real
 * iptables, its own pods and its own simulated IMDS (a relay on 169.254.169.254:80 that logs who
 * connected). Our NMI runs exactly as the chart's DaemonSet renders it in migration mode
 * (`migration.fromAadPodIdentity.enabled=true`: chain `pod-identity-metadata`, probe 8086, metrics
 * 9091, no /host/token), as the chart's ServiceAccount.
 *
 * First upstream's MIC leads (on its Endpoints lock in `default`, its default namespace): the bound pod
 * on each node gets a token whose verified claims name its own identity; an unbound pod on each node is
 * refused, and so is a pod asking for the other node's pod's identity. Then upstream's MIC stops and
 * ours starts with the chart's migration-mode MIC flags (`--leader-election-resource-lock=endpointsleases
 * --leader-election-name=aad-pod-identity-mic --leader-election-namespace=default`): it takes both locks,
 * adopts upstream's AAIs, and a new pod on each node is Assigned by it and gets its token, on both NMIs.
 * No pod connection reaches either node's IMDS. Both NMIs wait as briefly for an identity (the same
 * values, `--retry-attempts-for-created=2 --retry-attempts-for-assigned=2
 * --find-identity-retry-interval=1`), so a refusal takes ~2 s instead of upstream's default ~80 s, and
 * both wait the same for an identity that never comes (this test found ours giving up one interval
 * earlier than upstream; an unlabelled pod ours refuses at once, docs/nmi.md).
 * Missing upstream binaries fail every test with the command that builds them.
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateUpstreamBinaries, type UpstreamBinaries } from '../../src/devenv/upstream-binaries.ts';
import { KUBE_COMPONENT } from '../../src/kube/client-identity.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { MIGRATION_CHAIN } from '../../src/nmi/node/iptables/rules.ts';
import { discoverSigningKeys, verifiedClaims } from '../clients/harness.ts';
import { assertNetnsPrerequisites, createTopology, rootNamespaceChange, rootNamespaceSnapshot, type NetnsTopology, type PodNamespace } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { chartNames, chartServiceAccountKubeconfig, helmInstall } from '../support/chart.ts';
import { flagIn, startChartMic, startChartNmi, workloadContainer, type ChartContainer } from '../support/chart-processes.ts';
import { MicWorld, type MicProcess } from '../support/mic-world.ts';
import { attachNode, endpointsHolder, firstToken, imdsConnections, leaseHolder, nodeGetStatus, preroutingJumps, type FirstToken, type SimNode } from '../support/mixed-cluster.ts';
import { ARM_RESOURCE, curlToken, nmiAudits, waitUntil, type CurlResult } from '../support/nmi-e2e.ts';
import { startUpstreamMic } from '../support/upstream-mic.ts';
import { startUpstreamNmi, UPSTREAM_NMI_CHAIN, type UpstreamNmi } from '../support/upstream-nmi.ts';

const NS = 'mixed';
/** Upstream MIC's default lock: Endpoints `default/aad-pod-identity-mic`. */
const LOCK_NS = 'default';
const LOCK_NAME = 'aad-pod-identity-mic';
const RELEASE = 'pod-identity';
const RELEASE_NS = 'pod-identity';
const NAMES = chartNames(RELEASE);
/** migration.fromAadPodIdentity.nmiProbePort (upstream's NMI holds 8085). */
const OUR_NMI_PROBE_PORT = 8086;
const RETRY = { created: 2, assigned: 2, intervalSeconds: 1 };
const UPSTREAM_RETRY_ARGS = [`--retry-attempts-for-created=${String(RETRY.created)}`, `--retry-attempts-for-assigned=${String(RETRY.assigned)}`, `--find-identity-retry-interval=${String(RETRY.intervalSeconds)}`];
/** Pods on each node, by index in its topology. */
const BOUND = 0;
const UNBOUND = 1;
const NEW = 2;

interface Identity {
  readonly id: string;
  readonly clientId: string;
  readonly principalId: string;
}

interface RawAai {
  readonly metadata: { readonly uid: string; readonly labels?: Record<string, string>; readonly managedFields?: readonly { manager?: string }[] };
  readonly spec: { readonly pod: string; readonly podNamespace: string; readonly nodename: string };
  readonly status?: { readonly status?: string };
}

let binaries: UpstreamBinaries | undefined;
let missing: unknown;
let world: MicWorld | undefined;
let rootBefore: Awaited<ReturnType<typeof rootNamespaceSnapshot>> | undefined;
const topologies: NetnsTopology[] = [];
let nodeA: SimNode;
let nodeB: SimNode;
let keys: JWTVerifyGetKey;
let caFile: string;
const identities = {} as Record<'a' | 'b' | 'c' | 'd', Identity>;
let micContainer: ChartContainer;
let upstreamNmi: UpstreamNmi | undefined;
let ourNmi: ManagedProcess | undefined;
const mics: MicProcess[] = [];
const aaiUids = new Map<string, string>();
const figures: string[] = [];
const requests = { tokens: 0, refused: 0 };

const w = (): MicWorld => {
  if (world === undefined) throw new Error('world not started');
  return world;
};
const bins = (): UpstreamBinaries => {
  if (binaries === undefined) throw missing;
  return binaries;
};
const pod = (node: SimNode, index: number): PodNamespace => node.topo.pods[index]!;

async function expectTokenOf(response: CurlResult, identity: Identity): Promise<void> {
  expect(response.status, `${response.body} ${response.stderr}`).toBe(200);
  const claims = await verifiedClaims(String((JSON.parse(response.body) as { access_token?: unknown }).access_token), keys);
  expect(claims['appid']).toBe(identity.clientId);
  expect(claims['oid']).toBe(identity.principalId);
  expect(String(claims['xms_mirid']).toLowerCase()).toBe(identity.id.toLowerCase());
  expect(String(claims['aud']).replace(/\/$/, '')).toBe('https://management.azure.com');
  expect(claims['tid']).toBe(w().sim.tenantId);
  requests.tokens++;
}

/** A pod's request that must be refused: an HTTP answer (not a timeout), 404 as upstream answers, no token; returns its ms. */
async function expectRefused(node: SimNode, index: number, query: Record<string, string> = {}): Promise<number> {
  const started = performance.now();
  const response = await curlToken(node.topo, pod(node, index), { resource: ARM_RESOURCE, ...query });
  const ms = Math.round(performance.now() - started);
  expect(response.exit, response.stderr).toBe(0);
  expect(response.status, response.body).toBe(404);
  expect(response.body).not.toContain('access_token');
  requests.refused++;
  return ms;
}

async function aaiOf(podName: string): Promise<RawAai> {
  const list = (await rawRequest(w().kc, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities' })) as { items: RawAai[] };
  const mine = list.items.filter((item) => item.spec.podNamespace === NS && item.spec.pod === podName);
  if (mine.length !== 1) throw new Error(`expected one AAI for ${NS}/${podName}, found ${String(mine.length)}`);
  return mine[0]!;
}

const managers = (aai: RawAai): string[] => [...new Set((aai.metadata.managedFields ?? []).map((entry) => entry.manager ?? ''))].sort();

/** Pods created on both nodes at once, then each bound one asked for tokens until it gets one. */
async function podsGetTokens(pods: readonly { node: SimNode; index: number; name: string; selector: string | undefined }[]): Promise<Map<string, FirstToken>> {
  const since = performance.now();
  for (const entry of pods) await w().createPod(NS, entry.name, entry.node.name, entry.selector, { ip: pod(entry.node, entry.index).ip });
  const bound = pods.filter((entry) => entry.selector !== undefined);
  const answers = await Promise.all(bound.map((entry) => firstToken(entry.node.topo, pod(entry.node, entry.index), { resource: ARM_RESOURCE }, since)));
  return new Map(bound.map((entry, i) => [entry.name, answers[i]!]));
}

async function expectNoPodAtImds(): Promise<void> {
  for (const node of [nodeA, nodeB]) {
    const seen = await imdsConnections(node);
    expect(seen.fromPods, `${node.name}: pod connections at its IMDS`).toEqual([]);
    // The relay did see the node's NMI fetch the tokens, so the 0 above counts something.
    expect(seen.fromNode, `${node.name}: NMI connections at its IMDS`).toBeGreaterThan(0);
  }
}

beforeAll(async () => {
  await assertNetnsPrerequisites();
  try {
    binaries = await locateUpstreamBinaries();
  } catch (error) {
    // Each test fails with it (a failing beforeAll would show the tests as skipped).
    missing = error;
    return;
  }
  rootBefore = await rootNamespaceSnapshot();
  world = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } });
  caFile = path.join(world.dir, 'sim-ca.pem');
  writeFileSync(caFile, world.sim.caPem);
  keys = await discoverSigningKeys(world.sim.entraUrl, world.sim.tenantId, world.sim.caPem);

  // One topology per node, with pod subnets apart: node A 10.244.1-3.0/24, node B 10.244.11-13.0/24.
  const [nameA, nameB] = world.scaleSetNodes as [string, string];
  topologies.push(await createTopology({ pods: 3, firstSubnet: 1 }));
  nodeA = await attachNode(world, topologies[0]!, nameA);
  topologies.push(await createTopology({ pods: 3, firstSubnet: 11 }));
  nodeB = await attachNode(world, topologies[1]!, nameB);

  await world.namespace(NS);
  for (const name of ['a', 'b', 'c', 'd'] as const) {
    identities[name] = await world.azureIdentity(`mixed-${name}`);
    // Upstream's shape, applied as users apply it.
    await world.apply({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name: `identity-${name}`, namespace: NS }, spec: { type: 0, resourceID: identities[name].id, clientID: identities[name].clientId } });
    await world.apply({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', metadata: { name: `binding-${name}`, namespace: NS }, spec: { azureIdentity: `identity-${name}`, selector: `select-${name}` } });
  }
}, 300_000);

afterAll(async () => {
  const errors: unknown[] = [];
  await upstreamNmi?.process.stop(1_000).catch((error: unknown) => errors.push(error));
  for (const mic of mics) await mic.stop('SIGKILL').catch((error: unknown) => errors.push(error));
  if (process.env['MIXED_CLUSTER_TEST_LOGS'] === '1') {
    for (const proc of [upstreamNmi?.process, ourNmi]) if (proc !== undefined) console.log(`--- ${proc.name}\n${await proc.tail(60)}`);
    for (const mic of mics) console.log(`--- ${mic.name}\n${mic.output().slice(-4_000)}`);
  }
  for (const topo of topologies) await topo.cleanup().catch((error: unknown) => errors.push(error));
  await world?.stop().catch((error: unknown) => errors.push(error));
  const changed = rootBefore === undefined ? undefined : await rootNamespaceChange(rootBefore);
  if (changed !== undefined) errors.push(changed);
  if (errors.length > 0) throw new AggregateError(errors, 'mixed-cluster e2e cleanup failed');
}, 120_000);

describe('a mixed cluster during a rolling switch: upstream v1.8.17 NMI on node A, ours on node B', () => {
  it('the nodes: upstream’s NMI owns aad-metadata on A; ours, as the chart renders it in migration mode, its own chain on B', async () => {
    const upstream = bins();
    await helmInstall(w().plane, RELEASE, RELEASE_NS, {
      'migration.fromAadPodIdentity.enabled': 'true',
      'migration.fromAadPodIdentity.upstreamLockNamespace': LOCK_NS,
      'nmi.retryAttemptsForCreated': String(RETRY.created),
      'nmi.retryAttemptsForAssigned': String(RETRY.assigned),
      'nmi.findIdentityRetryIntervalInSeconds': String(RETRY.intervalSeconds),
      'nmi.loggingFormat': 'json',
    });
    const nmiContainer = await workloadContainer(w().plane, 'daemonset', RELEASE_NS, NAMES.nmi);
    micContainer = await workloadContainer(w().plane, 'deployment', RELEASE_NS, NAMES.mic);
    // The chart's migration mode: out of upstream's way on a node where it still runs.
    expect(flagIn(nmiContainer.args, 'ipt-chain')).toBe(MIGRATION_CHAIN);
    expect(flagIn(nmiContainer.args, 'http-probe-port')).toBe(String(OUR_NMI_PROBE_PORT));
    expect(flagIn(nmiContainer.args, 'prometheus-port')).toBe('9091');
    expect(flagIn(nmiContainer.args, 'host-token-port')).toBe('0');
    expect(flagIn(micContainer.args, 'leader-election-resource-lock')).toBe('endpointsleases');
    expect(flagIn(micContainer.args, 'leader-election-name')).toBe(LOCK_NAME);
    expect(flagIn(micContainer.args, 'leader-election-namespace')).toBe(LOCK_NS);

    const started = performance.now();
    upstreamNmi = await startUpstreamNmi(nodeA.topo, upstream, { node: nodeA.name, kubeconfig: w().plane.kubeconfigPath, extraArgs: UPSTREAM_RETRY_ARGS });
    const kubeletConfig = path.join(nodeB.topo.dir, 'kubelet-defaults');
    writeFileSync(kubeletConfig, 'KUBELET_FLAGS=--network-plugin=cni\n');
    const nmi = await startChartNmi(nodeB.topo, nmiContainer, {
      name: 'nmi-ours',
      node: nodeB.name,
      nodeIp: pod(nodeB, BOUND).gateway,
      namespace: RELEASE_NS,
      kubeconfig: await chartServiceAccountKubeconfig(w().plane, RELEASE_NS, NAMES.nmi),
      kubeletConfig,
      caFile,
    });
    ourNmi = nmi;
    const [upstreamActiveMs, oursReadyMs] = await Promise.all([
      upstreamNmi.waitActive(60_000),
      waitUntil(
        'our NMI Ready on node B',
        async () => {
          if (nmi.exit() !== undefined) throw new Error(`our NMI exited ${JSON.stringify(nmi.exit())}:\n${await nmi.tail()}`);
          return (await nodeGetStatus(nodeB.topo, OUR_NMI_PROBE_PORT, '/readyz')) === 200;
        },
        60_000,
        100,
      ),
    ]);
    expect(await preroutingJumps(nodeA.topo)).toEqual([UPSTREAM_NMI_CHAIN]);
    expect(await preroutingJumps(nodeB.topo)).toEqual([MIGRATION_CHAIN]);
    figures.push(`upstreamNmiActiveMs=${String(upstreamActiveMs)} ourNmiReadyMs=${String(oursReadyMs)} (both started ${String(Math.round(performance.now() - started))} ms ago)`);
  }, 180_000);

  it('upstream’s MIC leading: the pod on each node gets a token for its own identity; unbound and crossed requests are refused; no pod reaches an IMDS', async () => {
    const upstream = bins();
    const upstreamMic = await startUpstreamMic(w(), upstream, { name: 'aad-pod-identity-mic-6c7d8e-q1w2e', vmType: 'vmss', extraArgs: [`--leader-election-namespace=${LOCK_NS}`] });
    mics.push(upstreamMic);
    await waitUntil('upstream MIC Active', async () => (await w().health(upstreamMic)) === 'Active', 60_000, 200);
    expect(await endpointsHolder(w(), LOCK_NS, LOCK_NAME)).toBe(upstreamMic.name);

    const first = await podsGetTokens([
      { node: nodeA, index: BOUND, name: 'app-a', selector: 'select-a' },
      { node: nodeA, index: UNBOUND, name: 'idle-a', selector: undefined },
      { node: nodeB, index: BOUND, name: 'app-b', selector: 'select-b' },
      { node: nodeB, index: UNBOUND, name: 'idle-b', selector: undefined },
    ]);
    await expectTokenOf(first.get('app-a')!.response, identities.a);
    await expectTokenOf(first.get('app-b')!.response, identities.b);
    // Named requests too, as SDKs configured with a client ID make them.
    await expectTokenOf(await curlToken(nodeA.topo, pod(nodeA, BOUND), { resource: ARM_RESOURCE, client_id: identities.a.clientId }), identities.a);
    await expectTokenOf(await curlToken(nodeB.topo, pod(nodeB, BOUND), { resource: ARM_RESOURCE, client_id: identities.b.clientId }), identities.b);

    for (const [podName, node] of [['app-a', nodeA], ['app-b', nodeB]] as const) {
      const aai = await aaiOf(podName);
      expect(aai.status?.status).toBe('Assigned');
      expect(aai.spec.nodename).toBe(node.name);
      expect(aai.metadata.labels?.['nodename']).toBe(node.name);
      expect(managers(aai)).toEqual(['aad-pod-identity']);
      aaiUids.set(podName, aai.metadata.uid);
    }
    // Each node's own NMI answered its pod: upstream's request log names the pod's address (kept
    // through the DNAT), ours has an audit record for its pod.
    expect(await readFile(upstreamNmi!.process.logPath, 'utf8')).toMatch(new RegExp(`status \\(200\\).*req\\.remote=${pod(nodeA, BOUND).ip.replace(/\./g, '\\.')}`));
    expect(await nmiAudits(ourNmi!)).toEqual(expect.arrayContaining([expect.objectContaining({ namespace: NS, pod: 'app-b', decision: 'issued', status: 200 })]));

    const [unboundA, unboundB, crossedA, crossedB] = await Promise.all([
      expectRefused(nodeA, UNBOUND),
      expectRefused(nodeB, UNBOUND),
      // Each bound pod asking for the other node's pod's identity (both are on the scale set).
      expectRefused(nodeA, BOUND, { client_id: identities.b.clientId }),
      expectRefused(nodeB, BOUND, { client_id: identities.a.clientId }),
    ]);
    // Both waited --retry-attempts-for-created intervals for an identity that never came, as upstream
    // does (ours used to give up one interval earlier); an unlabelled pod ours refuses at once.
    const createdWaitMs = RETRY.created * RETRY.intervalSeconds * 1_000;
    expect(crossedA).toBeGreaterThanOrEqual(createdWaitMs);
    expect(crossedB).toBeGreaterThanOrEqual(createdWaitMs);
    await expectNoPodAtImds();
    figures.push(
      `upstreamMic: timeToTokenMs A(upstream NMI)=${String(first.get('app-a')!.ms)} B(our NMI)=${String(first.get('app-b')!.ms)} ` +
        `requestsToFirstToken A=${String(first.get('app-a')!.requests)} B=${String(first.get('app-b')!.requests)} ` +
        `refusalMs unbound A=${String(unboundA)} B=${String(unboundB)} crossed A=${String(crossedA)} B=${String(crossedB)}`,
    );
  }, 240_000);

  it('upstream’s MIC stopped, ours started with the chart’s migration flags: it takes the locks, keeps the AAIs, assigns a new pod on each node, and both get tokens', async () => {
    bins();
    const upstreamMic = mics[0]!;
    const stopped = performance.now();
    const exitCode = await upstreamMic.stop();
    const mic = await startChartMic(micContainer, {
      name: `${NAMES.mic}-5f6b7c-aaaaa`,
      namespace: RELEASE_NS,
      kubeconfig: await chartServiceAccountKubeconfig(w().plane, RELEASE_NS, NAMES.mic),
      cloudConfig: w().azureJsonPath,
    });
    mics.push(mic);
    const activeMs = await waitUntil(
      'our MIC Active',
      async () => {
        if (mic.child.exitCode !== null) throw new Error(`our MIC exited ${String(mic.child.exitCode)}:\n${mic.output().slice(-3_000)}`);
        return (await w().health(mic)) === 'Active';
      },
      60_000,
      100,
    );
    const takeoverMs = Math.round(performance.now() - stopped);
    expect(await endpointsHolder(w(), LOCK_NS, LOCK_NAME)).toBe(mic.name);
    expect(await leaseHolder(w(), LOCK_NS, LOCK_NAME)).toBe(mic.name);
    for (const [podName, uid] of aaiUids) expect((await aaiOf(podName)).metadata.uid, podName).toBe(uid);

    const next = await podsGetTokens([
      { node: nodeA, index: NEW, name: 'new-a', selector: 'select-c' },
      { node: nodeB, index: NEW, name: 'new-b', selector: 'select-d' },
    ]);
    await expectTokenOf(next.get('new-a')!.response, identities.c);
    await expectTokenOf(next.get('new-b')!.response, identities.d);
    for (const [podName, node] of [['new-a', nodeA], ['new-b', nodeB]] as const) {
      const aai = await aaiOf(podName);
      expect(aai.status?.status).toBe('Assigned');
      expect(aai.spec.nodename).toBe(node.name);
      expect(managers(aai)).toContain(KUBE_COMPONENT.mic);
      expect(managers(aai)).not.toContain('aad-pod-identity');
    }
    expect(w().scaleSetIdentities()).toEqual(Object.values(identities).map((identity) => identity.id.toLowerCase()).sort());
    // The first pods keep theirs, and the unbound ones are still refused.
    await expectTokenOf(await curlToken(nodeA.topo, pod(nodeA, BOUND), { resource: ARM_RESOURCE }), identities.a);
    await expectTokenOf(await curlToken(nodeB.topo, pod(nodeB, BOUND), { resource: ARM_RESOURCE }), identities.b);
    await Promise.all([expectRefused(nodeA, UNBOUND), expectRefused(nodeB, UNBOUND)]);
    await expectNoPodAtImds();
    figures.push(
      `ourMic: upstream MIC exit ${String(exitCode)}, ours Active ${String(activeMs)} ms after start, ${String(takeoverMs)} ms after upstream's SIGTERM; ` +
        `timeToTokenMs A(upstream NMI)=${String(next.get('new-a')!.ms)} B(our NMI)=${String(next.get('new-b')!.ms)} ` +
        `requestsToFirstToken A=${String(next.get('new-a')!.requests)} B=${String(next.get('new-b')!.requests)}`,
    );
  }, 240_000);

  it('summary: no pod connection reached either node’s IMDS', async () => {
    bins();
    await expectNoPodAtImds();
    const a = await imdsConnections(nodeA);
    const b = await imdsConnections(nodeB);
    console.log(
      `mixed-cluster e2e: ${figures.join('; ')}; verified tokens=${String(requests.tokens)} refused=${String(requests.refused)}; ` +
        `IMDS connections from pods A=${String(a.fromPods.length)} B=${String(b.fromPods.length)}, from the NMIs A=${String(a.fromNode)} B=${String(b.fromNode)}`,
    );
  });
});
