import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { locateUpstreamBinaries, type UpstreamBinaries } from '../../../src/devenv/upstream-binaries.ts';
import { rawRequest } from '../../../src/kube/raw-client.ts';
import { readAuditEvents } from '../../../src/devenv/audit.ts';
import type { RequestLogEntry } from '../../../src/sim/http/request-log.ts';
import { armRequests, isRunning, lastRequestSeq, MicWorld, NODE_GROUP, waitForHealth, type MicProcess } from '../../support/mic-world.ts';
import { startUpstreamMic } from '../../support/upstream-mic.ts';

// The MIC handover of a switch from aad-pod-identity, both ways, against the archived project's own MIC
// (scripts/upstream-aad-pod-identity-tag): upstream → ours and ours → upstream (a rollback), with pods on
// scale-set and VM nodes. The old MIC stops (SIGTERM), the new one starts; the new one must adopt every
// AzureAssignedIdentity as it is (same UID and resourceVersion), make no ARM write while it takes over
// and settles (≥ 2 of its sync and drift-check periods, which it proves by reading every target ≥ 2
// times), assign a pod created while no MIC leads, assign new pods, and remove identities with pods.
// Ours runs with upstream's lock (endpointsleases, upstream's name and namespace), as docs/migration.md says.

const LEASE = '4s'; // both MICs' --leader-election-duration
const PERIOD_MS = 2_000; // both MICs' --syncRetryDuration and --identity-assignment-reconcile-interval
const PERIOD_FLAGS = [`--leader-election-duration=${LEASE}`, `--syncRetryDuration=${PERIOD_MS / 1000}s`, `--identity-assignment-reconcile-interval=${PERIOD_MS / 1000}s`];
/** After Active, the new MIC runs this long before the takeover is judged: 3 periods, so ≥ 2 whole ones. */
const SETTLE_MS = 3 * PERIOD_MS;
const TYPE_UPGRADE_CONFIGMAP = '/api/v1/namespaces/kube-system/configmaps/aad-pod-identity-config';

let binaries: UpstreamBinaries | undefined;
let missing: unknown;
let world: MicWorld | undefined;
const upstreams: MicProcess[] = [];
/** Our MIC, kept from the first direction to be the old MIC of the second. */
let ours: MicProcess | undefined;

beforeAll(async () => {
  try {
    binaries = await locateUpstreamBinaries();
  } catch (error) {
    // Each test fails with it (a failing beforeAll would show the tests as skipped).
    missing = error;
    return;
  }
  world = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 1, lroDurationMs: { vm: 500, vmss: 800 } });
}, 120_000);

afterAll(async () => {
  for (const mic of upstreams) await mic.stop();
  await world?.stop();
});

function w(): MicWorld {
  if (world === undefined) throw new Error('the world did not start');
  return world;
}

async function startUpstream(name: string): Promise<MicProcess> {
  if (binaries === undefined) throw missing;
  const mic = await startUpstreamMic(w(), binaries, { name, vmType: 'vmss', extraArgs: PERIOD_FLAGS });
  upstreams.push(mic);
  return mic;
}

/** Ours on upstream's lock: Endpoints + Lease `aad-pod-identity-mic` in kube-system (the world's namespace). */
async function startOurs(name: string): Promise<MicProcess> {
  if (binaries === undefined) throw missing;
  ours = await w().startMic(name, ['--leader-election-resource-lock=endpointsleases', '--leader-election-name=aad-pod-identity-mic', ...PERIOD_FLAGS]);
  return ours;
}

const scaleSetPath = (): string => `/virtualMachineScaleSets/${w().scaleSet.name}`.toLowerCase();
const vmPath = (name: string): string => `/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachines/${name}`.toLowerCase();
const isCompute = (entry: RequestLogEntry): boolean => /microsoft\.compute\/(virtualmachines|virtualmachinescalesets)\//i.test(entry.path);
/** PUT, PATCH or DELETE on a VM or scale set. */
const armWrites = (entries: readonly RequestLogEntry[]): string[] =>
  entries.filter((entry) => isCompute(entry) && ['PUT', 'PATCH', 'DELETE'].includes(entry.method)).map((entry) => `${entry.method} ${entry.path} → ${entry.status}`);
const readsOf = (entries: readonly RequestLogEntry[], resource: string): number =>
  entries.filter((entry) => entry.method === 'GET' && entry.path.toLowerCase().endsWith(resource)).length;

interface Recorded {
  readonly uid: string;
  readonly resourceVersion: string;
  readonly state: string | undefined;
}

/** Every AAI in the cluster by `namespace/name`. */
async function recordAssigned(): Promise<Map<string, Recorded>> {
  return new Map(
    (await w().assignedIdentities()).map((entry) => [
      `${entry.metadata.namespace ?? ''}/${entry.metadata.name ?? ''}`,
      { uid: entry.metadata.uid ?? '', resourceVersion: entry.metadata.resourceVersion ?? '', state: entry.status?.status },
    ]),
  );
}

/** {@link recordAssigned} once two readings 500 ms apart agree: the old MIC has finished writing. */
async function recordWhenQuiet(): Promise<Map<string, Recorded>> {
  let last = await recordAssigned();
  for (let attempt = 0; attempt < 20; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const next = await recordAssigned();
    if (JSON.stringify([...next]) === JSON.stringify([...last])) return next;
    last = next;
  }
  throw new Error('the AzureAssignedIdentities kept changing for 10 s before the stop');
}

/** Writes to AzureAssignedIdentities the API server received since `since` (ISO time): verb, object, client. */
async function assignedWritesSince(since: string): Promise<string[]> {
  return (await readAuditEvents(w().plane.auditLogPath))
    .filter((event) => event.objectRef?.resource === 'azureassignedidentities' && !['get', 'list', 'watch'].includes(event.verb) && (event.requestReceivedTimestamp ?? '') >= since)
    .map((event) => `${event.verb} ${event.objectRef?.name ?? '?'} by ${(event.userAgent ?? '').split(' ')[0] ?? ''}`);
}

async function bind(namespace: string, name: string): Promise<string> {
  const azure = await w().azureIdentity(name);
  await w().createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await w().createBinding(namespace, `${name}-binding`, name, name);
  return azure.id.toLowerCase();
}

async function waitForAssigned(namespace: string, pods: readonly string[], timeout = 30_000): Promise<void> {
  await vi.waitFor(async () => {
    for (const pod of pods) expect((await w().assignedFor(namespace, pod)).map((entry) => entry.status?.status), `${namespace}/${pod}`).toEqual(['Assigned']);
  }, { timeout, interval: 100 });
}

interface Figures {
  /** SIGTERM to the old MIC → new MIC `/healthz` Active. */
  readonly activeMs: number;
  /** SIGTERM → the pod created right after it Assigned (its identity was already on its VMSS). */
  readonly waitingPodMs: number;
  /** New pods with new identities (one VMSS, one VM): created → both Assigned. */
  readonly newPodsMs: number;
  readonly adopted: number;
  readonly readsInSettle: { vmss: number; vm: number };
}

/**
 * One direction: `old` (Active) assigns three pods (two scale-set nodes, one VM), is stopped, `startNew`
 * starts the new MIC; checks adoption, ARM writes, a waiting pod, new pods and removal.
 */
async function handover(label: string, old: MicProcess, startNew: () => Promise<MicProcess>, beforeNew?: () => Promise<void>): Promise<{ mic: MicProcess; figures: Figures }> {
  const ns = await w().namespace(`handover-${label}`);
  const [vmss0, vmss1] = w().scaleSetNodes as [string, string];
  const vm = w().vmNodes[0]!;
  const idA = await bind(ns, `${label}-a`);
  const idB = await bind(ns, `${label}-b`);
  const idC = await bind(ns, `${label}-c`);
  await w().createPod(ns, 'p0', vmss0, `${label}-a`);
  await w().createPod(ns, 'p1', vmss1, `${label}-b`);
  await w().createPod(ns, 'p2', vm, `${label}-c`);
  await waitForAssigned(ns, ['p0', 'p1', 'p2']);
  expect(w().scaleSetIdentities()).toEqual([idA, idB].sort());
  expect(w().vmIdentities(vm)).toEqual([idC]);

  const recorded = await recordWhenQuiet();
  expect([...recorded.values()].map((entry) => entry.state)).toEqual(['Assigned', 'Assigned', 'Assigned']);
  const vmssBefore = w().scaleSetIdentities();
  const vmBefore = w().vmIdentities(vm);
  const since = await lastRequestSeq(w());

  const stoppedAt = performance.now();
  const stoppedTime = new Date().toISOString();
  await old.stop('SIGTERM');
  // Created while no MIC leads; its identity is already on its scale set, so assigning it needs no ARM write.
  await w().createPod(ns, 'waiting', vmss1, `${label}-a`);
  await beforeNew?.();
  const mic = await startNew();
  await waitForHealth(w(), mic, 'Active', 30_000, 25);
  const activeAt = performance.now();
  const activeSeq = await lastRequestSeq(w());
  await waitForAssigned(ns, ['waiting']);
  const waitingPodMs = performance.now() - stoppedAt;
  const settleLeft = activeAt + SETTLE_MS - performance.now();
  if (settleLeft > 0) await new Promise((resolve) => setTimeout(resolve, settleLeft));

  // The takeover, judged: no ARM write since the stop; the new MIC read each target ≥ 2 times after it became Active.
  const window = await armRequests(w(), since);
  expect(armWrites(window)).toEqual([]);
  const afterActive = window.filter((entry) => entry.seq > activeSeq);
  const readsInSettle = { vmss: readsOf(afterActive, scaleSetPath()), vm: readsOf(afterActive, vmPath(vm)) };
  expect(readsInSettle.vmss).toBeGreaterThanOrEqual(2);
  expect(readsInSettle.vm).toBeGreaterThanOrEqual(2);
  // Every AAI adopted as it was; the only new one is the waiting pod's.
  const after = await recordAssigned();
  for (const [key, before] of recorded) expect(after.get(key), key).toEqual(before);
  const waitingAai = `waiting-${ns}-${label}-a`;
  expect([...after.keys()].filter((key) => !recorded.has(key))).toEqual([`default/${waitingAai}`]);
  // The API server's audit log agrees: since the stop, only the waiting pod's AAI was written (ours creates it Assigned; upstream creates it, then patches its state).
  expect((await assignedWritesSince(stoppedTime)).filter((write) => !write.includes(` ${waitingAai} `))).toEqual([]);
  expect(w().scaleSetIdentities()).toEqual(vmssBefore);
  expect(w().vmIdentities(vm)).toEqual(vmBefore);

  // New pods with new identities, assigned by the new MIC on the scale set and on the VM.
  const idD = await bind(ns, `${label}-d`);
  const idE = await bind(ns, `${label}-e`);
  const created = performance.now();
  await w().createPod(ns, 'new-vmss', vmss0, `${label}-d`);
  await w().createPod(ns, 'new-vm', vm, `${label}-e`);
  await waitForAssigned(ns, ['new-vmss', 'new-vm']);
  const newPodsMs = performance.now() - created;
  expect(w().scaleSetIdentities()).toEqual([idA, idB, idD].sort());
  expect(w().vmIdentities(vm)).toEqual([idC, idE].sort());

  // Deleting the pods (the adopted ones too) removes their AAIs and identities.
  for (const pod of ['p0', 'p1', 'p2', 'waiting', 'new-vmss', 'new-vm']) await w().deletePod(ns, pod);
  await vi.waitFor(async () => {
    expect((await w().assignedIdentities()).filter((entry) => entry.spec.podNamespace === ns)).toEqual([]);
    expect(w().scaleSetIdentities()).toEqual([]);
    expect(w().vmIdentities(vm)).toEqual([]);
  }, { timeout: 30_000, interval: 200 });

  return { mic, figures: { activeMs: activeAt - stoppedAt, waitingPodMs, newPodsMs, adopted: recorded.size, readsInSettle } };
}

function report(direction: string, figures: Figures): void {
  console.log(
    `[upstream/handover] ${direction}: ${figures.adopted} AAIs adopted with the same UID and resourceVersion, 0 ARM writes from SIGTERM to ${SETTLE_MS} ms after Active ` +
      `(new MIC read the VMSS ${figures.readsInSettle.vmss}× and the VM ${figures.readsInSettle.vm}×); SIGTERM → Active ${Math.round(figures.activeMs)} ms, ` +
      `→ waiting pod Assigned ${Math.round(figures.waitingPodMs)} ms; new pods (VMSS + VM) created → Assigned ${Math.round(figures.newPodsMs)} ms (lease ${LEASE}, periods ${PERIOD_MS} ms)`,
  );
}

/** Runs `body`; on failure the MICs' logs are in the error. */
async function withLogs(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const logs = [...upstreams, ...(ours === undefined ? [] : [ours])].map((mic) => `--- ${mic.name} (last 3000 characters) ---\n${mic.output().slice(-3_000)}`).join('\n');
    throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
  }
}

describe('MIC handover between upstream aad-pod-identity and ours, VMSS and VM nodes', () => {
  it('upstream → ours: every AAI adopted unchanged, 0 ARM writes at the takeover, then assigns and removes', async () => {
    await withLogs(async () => {
      const upstream = await startUpstream('upstream-old');
      await waitForHealth(w(), upstream, 'Active', 60_000);
      const { figures } = await handover('up2ours', upstream, () => startOurs('ours-new'), async () => {
        // Upstream recorded its type upgrade at start; without the record a later upstream MIC rewrites every
        // object (and so every AAI's resourceVersion). Removed here so that our MIC must write it (checked below).
        await rawRequest(w().kc, { method: 'DELETE', path: TYPE_UPGRADE_CONFIGMAP });
      });
      report('upstream → ours', figures);
    });
  }, 180_000);

  it('ours → upstream (a rollback): every AAI adopted unchanged, 0 ARM writes at the takeover, then assigns and removes', async () => {
    await withLogs(async () => {
      const old = ours !== undefined && isRunning(ours) ? ours : await startOurs('ours-old');
      await waitForHealth(w(), old, 'Active', 30_000);
      const record = (await rawRequest(w().kc, { method: 'GET', path: TYPE_UPGRADE_CONFIGMAP })) as { data?: Record<string, string> };
      expect(Object.keys(record.data ?? {})).toContain('type-upgrade-status');
      const { mic, figures } = await handover('ours2up', old, () => startUpstream('upstream-new'));
      expect(mic.output()).toContain('Skipping type upgrade');
      report('ours → upstream', figures);
    });
  }, 180_000);
});
