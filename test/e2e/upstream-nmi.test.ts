/**
 * NMI interop with the archived project's own v1.8.17 binaries, in network namespaces with real
 * iptables (issue 19, point 3): upstream's NMI, unmodified, in the node namespace serves a pod from the
 * AzureAssignedIdentity our MIC wrote; then our NMI serves a pod from the one upstream's MIC wrote.
 * Tokens come from the node's simulated IMDS through each NMI, and their verified claims name the
 * pod's identity. Upstream's NMI runs with its chart's flags, on its default 127.0.0.1:2579 (DNAT to
 * loopback, with route_localnet=1 in the node namespace as kube-proxy sets it on AKS nodes), and on
 * SIGTERM deletes its chain — which the migration relies on. No pod reaches the node's IMDS directly.
 * Missing upstream binaries fail every test with the command that builds them.
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateUpstreamBinaries, type UpstreamBinaries } from '../../src/devenv/upstream-binaries.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { KUBE_COMPONENT } from '../../src/kube/client-identity.ts';
import { expectedChainRules } from '../../src/nmi/node/iptables/rules.ts';
import { discoverSigningKeys, verifiedClaims } from '../clients/harness.ts';
import { assertNetnsPrerequisites, createTopology, IMDS_IP, rootNamespaceSnapshot, type NetnsTopology, type PodNamespace } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { MicWorld, type MicProcess } from '../support/mic-world.ts';
import { ARM_RESOURCE, curlToken, interceptionState, nmiAudits, relayConnections, startImdsRelay, startNodeNmi, waitForNmiServing, waitUntil, type CurlResult } from '../support/nmi-e2e.ts';
import { startUpstreamMic } from '../support/upstream-mic.ts';
import { startUpstreamNmi, UPSTREAM_NMI_CHAIN, UPSTREAM_NMI_PORT, type UpstreamNmi } from '../support/upstream-nmi.ts';

const NS = 'interop';

interface Identity {
  readonly id: string;
  readonly clientId: string;
  readonly principalId: string;
}

interface RawAai {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly uid: string; readonly managedFields?: readonly { manager?: string }[] };
  readonly spec: { readonly pod: string; readonly podNamespace: string };
  readonly status?: { readonly status?: string };
}

let binaries: UpstreamBinaries | undefined;
let missing: unknown;
let world: MicWorld | undefined;
let topo: NetnsTopology | undefined;
let before: Awaited<ReturnType<typeof rootNamespaceSnapshot>> | undefined;
let keys: JWTVerifyGetKey;
let relay: ManagedProcess;
let node: string;
let caFile: string;
let identityA: Identity;
let identityB: Identity;
const mics: MicProcess[] = [];
const upstreamNmis: UpstreamNmi[] = [];

const w = (): MicWorld => {
  if (world === undefined) throw new Error('world not started');
  return world;
};
const t = (): NetnsTopology => {
  if (topo === undefined) throw new Error('topology not created');
  return topo;
};
const pod = (i: number): PodNamespace => t().pods[i]!;
const bins = (): UpstreamBinaries => {
  if (binaries === undefined) throw missing;
  return binaries;
};

const body = (result: CurlResult): Record<string, unknown> => {
  try {
    return JSON.parse(result.body) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON (curl exit ${String(result.exit)}, HTTP ${String(result.status)}): ${result.body} ${result.stderr}`);
  }
};

async function expectClaimsOf(token: string, identity: Identity): Promise<void> {
  const claims = await verifiedClaims(token, keys);
  expect(claims['appid']).toBe(identity.clientId);
  expect(claims['oid']).toBe(identity.principalId);
  expect(String(claims['xms_mirid']).toLowerCase()).toBe(identity.id.toLowerCase());
  expect(String(claims['aud']).replace(/\/$/, '')).toBe('https://management.azure.com');
  expect(claims['tid']).toBe(w().sim.tenantId);
}

/** The raw AAI of a pod (one expected), with its managedFields. */
async function rawAaiOf(podName: string): Promise<RawAai> {
  const list = (await rawRequest(w().kc, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities' })) as { items: RawAai[] };
  const mine = list.items.filter((item) => item.spec.podNamespace === NS && item.spec.pod === podName);
  if (mine.length !== 1) throw new Error(`expected one AAI for ${NS}/${podName}, found ${String(mine.length)}`);
  return mine[0]!;
}

async function waitAssigned(podName: string): Promise<RawAai> {
  await waitUntil(`AAI of ${podName} Assigned`, async () => (await w().assignedFor(NS, podName)).map((aai) => aai.status?.status).join() === 'Assigned', 60_000, 200);
  return rawAaiOf(podName);
}

const managers = (aai: RawAai): string[] => [...new Set((aai.metadata.managedFields ?? []).map((entry) => entry.manager ?? ''))].sort();

beforeAll(async () => {
  await assertNetnsPrerequisites();
  try {
    binaries = await locateUpstreamBinaries();
  } catch (error) {
    // Each test fails with it (a failing beforeAll would show the tests as skipped).
    missing = error;
    return;
  }
  before = await rootNamespaceSnapshot();
  world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } });
  node = world.scaleSetNodes[0] ?? '';
  caFile = path.join(world.dir, 'sim-ca.pem');
  writeFileSync(caFile, world.sim.caPem);
  keys = await discoverSigningKeys(world.sim.entraUrl, world.sim.tenantId, world.sim.caPem);

  topo = await createTopology({ pods: 2 });
  const apiPort = Number(new URL(world.kc.getCurrentCluster()?.server ?? '').port);
  await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: apiPort, target: { host: '127.0.0.1', port: apiPort } });
  const imds = new URL((await world.sim.startImds(node)).url);
  await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: Number(imds.port), target: { host: imds.hostname, port: Number(imds.port) } });
  relay = await startImdsRelay(topo, `127.0.0.1:${imds.port}`);

  await world.namespace(NS);
  identityA = await world.azureIdentity('interop-a');
  identityB = await world.azureIdentity('interop-b');
  for (const [name, identity] of [['a', identityA], ['b', identityB]] as const) {
    // Upstream's shape, applied as users apply it.
    await world.apply({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name: `identity-${name}`, namespace: NS }, spec: { type: 0, resourceID: identity.id, clientID: identity.clientId } });
    await world.apply({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', metadata: { name: `binding-${name}`, namespace: NS }, spec: { azureIdentity: `identity-${name}`, selector: `select-${name}` } });
  }
}, 300_000);

afterAll(async () => {
  const errors: unknown[] = [];
  for (const nmi of upstreamNmis) await nmi.process.stop(1_000).catch((error: unknown) => errors.push(error));
  for (const mic of mics) await mic.stop('SIGKILL').catch((error: unknown) => errors.push(error));
  await topo?.cleanup().catch((error: unknown) => errors.push(error));
  await world?.stop().catch((error: unknown) => errors.push(error));
  if (before !== undefined) {
    const after = await rootNamespaceSnapshot();
    if (after.nat !== before.nat || after.links.join() !== before.links.join()) errors.push(new Error('the root namespace changed'));
  }
  if (errors.length > 0) throw new AggregateError(errors, 'upstream NMI e2e cleanup failed');
}, 90_000);

describe('NMI interop with upstream aad-pod-identity v1.8.17 in network namespaces', () => {
  it('upstream’s NMI serves a pod from the AAI our MIC wrote: token claims name the pod’s identity', async () => {
    const upstreamBinaries = bins();
    const ours = await w().startMic('ours-interop');
    mics.push(ours);
    await waitUntil('our MIC Active', async () => (await w().health(ours)) === 'Active', 30_000, 100);
    await w().createPod(NS, 'app-a', node, 'select-a', { ip: pod(0).ip });
    const aai = await waitAssigned('app-a');
    expect(aai.metadata.namespace).toBe('default');
    expect(managers(aai)).toContain(KUBE_COMPONENT.mic);
    expect(managers(aai)).not.toContain('aad-pod-identity');

    const upstream = await startUpstreamNmi(t(), upstreamBinaries, { node, kubeconfig: w().plane.kubeconfigPath });
    upstreamNmis.push(upstream);
    const activeMs = await upstream.waitActive();
    // Its own rule text, DNAT to its default listener 127.0.0.1:2579, jumped to first.
    const state = await interceptionState(t(), { chain: UPSTREAM_NMI_CHAIN, metadataIp: IMDS_IP, metadataPort: 80, targetIp: '127.0.0.1', targetPort: UPSTREAM_NMI_PORT });
    expect(state.chain).toBe(expectedChainRules({ chain: UPSTREAM_NMI_CHAIN, metadataIp: IMDS_IP, metadataPort: 80, targetIp: '127.0.0.1', targetPort: UPSTREAM_NMI_PORT }).join('\n') + '\n');
    expect(state.jumps).toEqual([1]);

    const response = await curlToken(t(), pod(0), { resource: ARM_RESOURCE });
    expect(response.status, `${response.body}\n${await upstream.process.tail()}`).toBe(200);
    await expectClaimsOf(String(body(response)['access_token']), identityA);
    const named = await curlToken(t(), pod(0), { resource: ARM_RESOURCE, client_id: identityA.clientId });
    expect(named.status, named.body).toBe(200);
    await expectClaimsOf(String(body(named)['access_token']), identityA);
    // Upstream's NMI answered (its request log names the pod's own address, kept through the DNAT).
    expect(await readFile(upstream.process.logPath, 'utf8')).toMatch(new RegExp(`status \\(200\\).*req\\.remote=${pod(0).ip.replace(/\./g, '\\.')}`));
    // A pod it does not know gets no token.
    const stranger = await curlToken(t(), pod(1), { resource: ARM_RESOURCE, client_id: identityA.clientId });
    expect(stranger.exit, stranger.stderr).toBe(0);
    expect(stranger.status).not.toBe(200);

    // SIGTERM: upstream deletes its chain and jump (the migration depends on this), then exits 10 s later.
    const stopped = performance.now();
    await upstream.process.stop(20_000);
    const after = await interceptionState(t(), { chain: UPSTREAM_NMI_CHAIN, metadataIp: IMDS_IP, metadataPort: 80, targetIp: '127.0.0.1', targetPort: UPSTREAM_NMI_PORT });
    expect(after.chain).toBeUndefined();
    expect(after.jumps).toEqual([]);
    expect(upstream.process.exit()).toMatchObject({ code: 0 });
    console.log(`upstream-nmi e2e: upstream NMI Active ${String(activeMs)} ms after start; exited ${String(Math.round(performance.now() - stopped))} ms after SIGTERM with aad-metadata deleted`);
    await ours.stop();
  }, 180_000);

  it('our NMI serves a pod from the AAI upstream’s MIC wrote (and the one ours wrote, now kept by upstream’s)', async () => {
    const upstreamBinaries = bins();
    const upstreamMic = await startUpstreamMic(w(), upstreamBinaries, { name: 'upstream-interop', vmType: 'vmss' });
    mics.push(upstreamMic);
    await waitUntil('upstream MIC Active', async () => (await w().health(upstreamMic)) === 'Active', 60_000, 200);
    await w().createPod(NS, 'app-b', node, 'select-b', { ip: pod(1).ip });
    const aai = await waitAssigned('app-b');
    expect(aai.metadata.namespace).toBe('default');
    expect(managers(aai)).toEqual(['aad-pod-identity']);

    const nmi = await startNodeNmi(t(), { node, kubeconfig: w().plane.kubeconfigPath, dnatIp: pod(0).gateway, caFile });
    await waitForNmiServing(t(), nmi, pod(0).gateway);
    const response = await curlToken(t(), pod(1), { resource: ARM_RESOURCE });
    expect(response.status, response.body).toBe(200);
    await expectClaimsOf(String(body(response)['access_token']), identityB);
    const named = await curlToken(t(), pod(1), { resource: ARM_RESOURCE, msi_res_id: identityB.id });
    expect(named.status, named.body).toBe(200);
    await expectClaimsOf(String(body(named)['access_token']), identityB);
    const first = await curlToken(t(), pod(0), { resource: ARM_RESOURCE });
    expect(first.status, first.body).toBe(200);
    await expectClaimsOf(String(body(first)['access_token']), identityA);
    // Neither pod gets the other's identity.
    const crossed = await curlToken(t(), pod(1), { resource: ARM_RESOURCE, client_id: identityA.clientId });
    expect(crossed.status).not.toBe(200);
    expect(await nmiAudits(nmi)).toEqual(expect.arrayContaining([expect.objectContaining({ namespace: NS, pod: 'app-b', decision: 'issued', status: 200 })]));
    await upstreamMic.stop();
  }, 180_000);

  it('no pod reached the node’s IMDS directly at any point', async () => {
    bins();
    const pods = new Set(t().pods.map((p) => p.ip));
    expect((await relayConnections(relay)).filter((address) => pods.has(address))).toEqual([]);
  });
});
