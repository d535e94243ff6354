import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildIdentityPatches } from '../../../src/azure/identity-patch.ts';
import { isStatus } from '../../../src/kube/raw-client.ts';
import type { RequestLogEntry } from '../../../src/sim/http/request-log.ts';
import {
  armRequests,
  countArm,
  eventsAbout,
  IDENTITY_GROUP,
  identityResourceId,
  isRunning,
  lastRequestSeq,
  MicWorld,
  outOfBandArm,
  scaleSetTarget,
  SUBSCRIPTION,
  waitForHealth,
  type MicProcess,
} from '../../support/mic-world.ts';

// MIC (a real process) against ARM faults injected in the simulator and a restarted API server: it
// never writes inside a Retry-After window, retries conflicts and 5xx with backoff, keeps valid
// identities apart from refused ones, repairs drift, and every pod converges once the faults stop.

const LRO = { vm: 300, vmss: 600 };

let world: MicWorld | undefined;
let mic: MicProcess | undefined;

beforeAll(async () => {
  const started = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 1, lroDurationMs: LRO });
  world = started;
  // A 30 s lease instead of the world's 4 s: the harness's kube-apiserver restart leaves MIC without
  // an API server for ~11 s (its graceful stop waits out the 10 s grace while watches are open), and a
  // leader that cannot renew its lease that long exits by design (upstream too). With the lease
  // renewal fix, a 30 s lease rides out 22.5 s; the production 15 s lease rides out 11.25 s.
  mic = await started.startMic('mic-faults', ['--drift-check-interval=2s', '--leader-election-duration=30s']);
  await waitForHealth(started, mic, 'Active', 60_000);
}, 120_000);

afterEach(async () => {
  await world?.admin.clearFaults();
  await world?.admin.setOptions({ lroDurationMs: LRO });
});

afterAll(async () => {
  if (mic !== undefined && process.env['MIC_TEST_LOGS'] === '1') console.log(mic.output());
  await world?.stop();
});

function w(): MicWorld {
  if (world === undefined) throw new Error('world not started');
  return world;
}

function m(): MicProcess {
  if (mic === undefined) throw new Error('MIC not started');
  return mic;
}

/** A seeded Azure identity, its AzureIdentity and a binding whose selector is the identity's name. */
async function bound(namespace: string, name: string, selector = name): Promise<{ id: string; clientId: string }> {
  const azure = await w().azureIdentity(name);
  await w().createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await w().createBinding(namespace, `${name}-binding`, name, selector);
  return azure;
}

/** AAI states of a pod by AzureIdentity name. */
async function statesOf(namespace: string, pod: string): Promise<Record<string, string | undefined>> {
  const assigned = await w().assignedFor(namespace, pod);
  return Object.fromEntries(assigned.map((entry) => [entry.spec.azureIdentityRef?.metadata.name ?? '?', entry.status?.status]));
}

async function waitForStates(namespace: string, pod: string, expected: Record<string, string>, timeout = 30_000): Promise<void> {
  await vi.waitFor(async () => {
    expect(await statesOf(namespace, pod)).toEqual(expected);
  }, { timeout, interval: 100 });
}

const isScaleSetWrite = (entry: RequestLogEntry): boolean => entry.method === 'PATCH' && /virtualMachineScaleSets\/[^/]+$/i.test(entry.path);
const isComputeWrite = (entry: RequestLogEntry): boolean => (entry.method === 'PATCH' || entry.method === 'PUT') && /microsoft\.compute\//i.test(entry.path);
const at = (entry: RequestLogEntry): number => Date.parse(entry.time);

describe('MIC under ARM faults', () => {
  it('429 with Retry-After: 3 on the scale-set PATCH: no ARM write inside the window, then converges', async () => {
    const ns = await w().namespace('throttle');
    const azure = await bound(ns, 'throttled');
    const since = await lastRequestSeq(w());
    await w().admin.addFault({ service: 'arm', method: 'PATCH', path: 'virtualMachineScaleSets', times: 2, action: { kind: 'status', status: 429, retryAfterSeconds: 3 } });

    await w().createPod(ns, 'app', w().scaleSetNodes[0]!, 'throttled');
    await waitForStates(ns, 'app', { throttled: 'Assigned' });
    expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());

    const entries = await armRequests(w(), since);
    const patches = entries.filter(isScaleSetWrite);
    expect(patches.map((entry) => entry.status)).toEqual([429, 429, 200]);
    const throttled = patches.filter((entry) => entry.status === 429);
    const gaps: number[] = [];
    for (const denial of throttled) {
      // Every compute write (any VM or scale set of the subscription) after this 429 came ≥ 3 s later.
      const next = entries.find((entry) => isComputeWrite(entry) && entry.seq > denial.seq);
      expect(next).toBeDefined();
      const gap = at(next!) - at(denial);
      gaps.push(gap);
      expect(gap).toBeGreaterThanOrEqual(3_000);
    }
    const counts = countArm(entries);
    console.log(`[faults/429] ARM calls: ${counts.total} total (${counts.writes} PATCH: ${patches.map((entry) => entry.status).join(', ')}; ${counts.reads} GET; ${counts.polls} operation polls); write after each 429 came ${gaps.map((gap) => `${gap} ms`).join(', ')} later (Retry-After 3 s)`);
  });

  it('409 while another operation runs on the scale set: MIC retries and converges, the other change survives', async () => {
    const ns = await w().namespace('conflict');
    const azure = await bound(ns, 'conflicted');
    const foreign = await w().azureIdentity('someone-elses');
    const target = scaleSetTarget(w());
    const arm = await outOfBandArm(w());
    const since = await lastRequestSeq(w());

    // Someone else starts a 6 s operation on the scale set…
    await w().admin.setOptions({ lroDurationMs: { vmss: 6_000 } });
    const current = await arm.getIdentity(target);
    const [patch] = buildIdentityPatches(current.identity, [foreign.id], []);
    const external = arm.patchIdentity(target, patch!);
    await w().admin.waitForRequest({ service: 'arm', method: 'PATCH', path: target.name, since });
    await w().admin.setOptions({ lroDurationMs: LRO });
    const externalStarted = Date.now();

    // …and a pod needs an identity on it meanwhile.
    await w().createPod(ns, 'app', w().scaleSetNodes[1]!, 'conflicted');
    await w().admin.waitForRequest({ service: 'arm', method: 'PATCH', path: target.name, status: 409, since }, 10_000);
    await external;
    await waitForStates(ns, 'app', { conflicted: 'Assigned' });
    const identities = w().scaleSetIdentities();
    expect(identities).toContain(azure.id.toLowerCase());
    expect(identities).toContain(foreign.id.toLowerCase());

    const entries = await armRequests(w(), since);
    const patches = entries.filter(isScaleSetWrite);
    // The external PATCH, MIC's refused one(s), MIC's successful one.
    expect(patches[0]?.status).toBe(200);
    expect(patches.filter((entry) => entry.status === 409).length).toBeGreaterThanOrEqual(1);
    expect(patches.at(-1)?.status).toBe(200);
    expect(patches.filter((entry) => entry.status === 200)).toHaveLength(2);
    // MIC's own writes: after each 409 it waits its conflict delay (5 s) before writing again.
    const mine = patches.slice(1);
    const gaps = mine.slice(1).map((entry, index) => at(entry) - at(mine[index]!));
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(5_000);
    const counts = countArm(entries);
    console.log(`[faults/409] ARM calls: ${counts.total} total (${counts.writes} PATCH: ${patches.map((entry) => entry.status).join(', ')}, the first one external; ${counts.reads} GET; ${counts.polls} polls); MIC's writes ${gaps.map((gap) => `${gap} ms`).join(', ')} apart; Assigned ${Date.now() - externalStarted} ms after the external 6 s operation started`);
  });

  it('500s on the PATCH: retried with growing delays, converges', async () => {
    const ns = await w().namespace('server-errors');
    const azure = await bound(ns, 'flaky');
    const since = await lastRequestSeq(w());
    await w().admin.addFault({ service: 'arm', method: 'PATCH', path: 'virtualMachineScaleSets', times: 3, action: { kind: 'status', status: 500 } });

    await w().createPod(ns, 'app', w().scaleSetNodes[0]!, 'flaky');
    await waitForStates(ns, 'app', { flaky: 'Assigned' });
    expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());

    const entries = await armRequests(w(), since);
    const patches = entries.filter(isScaleSetWrite);
    expect(patches.map((entry) => entry.status)).toEqual([500, 500, 500, 200]);
    const gaps = patches.slice(1).map((entry, index) => at(entry) - at(patches[index]!));
    // The client's transient retries (--update-user-msi-max-retry=2): 1 s then 2 s apart, less up to 20 % jitter.
    // The fourth write is the target's next reconcile; it is not held (a 500 names no Retry-After).
    expect(gaps[0]).toBeGreaterThanOrEqual(750);
    expect(gaps[1]).toBeGreaterThanOrEqual(1_550);
    const counts = countArm(entries);
    console.log(`[faults/500] ARM calls: ${counts.total} total (${counts.writes} PATCH: ${patches.map((entry) => entry.status).join(', ')}; gaps ${gaps.map((gap) => `${gap} ms`).join(', ')}; ${counts.reads} GET; ${counts.polls} polls)`);
  });

  it('one identity that does not exist in Azure does not hold back the valid one; it converges once created', async () => {
    const ns = await w().namespace('invalid');
    const valid = await bound(ns, 'valid-one', 'batch');
    const missingId = identityResourceId('not-yet-created');
    const missingClientId = randomUUID();
    await w().createIdentity(ns, 'missing', { type: 0, resourceID: missingId, clientID: missingClientId });
    await w().createBinding(ns, 'missing-binding', 'missing', 'batch');
    const since = await lastRequestSeq(w());

    await w().createPod(ns, 'app', w().scaleSetNodes[1]!, 'batch');
    await waitForStates(ns, 'app', { 'valid-one': 'Assigned', missing: 'Created' });
    expect(w().scaleSetIdentities()).toContain(valid.id.toLowerCase());
    expect(w().scaleSetIdentities()).not.toContain(missingId.toLowerCase());
    let warning: { message: string } | undefined;
    await vi.waitFor(async () => {
      const events = await eventsAbout(w(), ns, 'AzureIdentityBinding', 'missing-binding');
      warning = events.find((event) => event.type === 'Warning' && event.reason === 'binding apply error');
      expect(warning).toBeDefined();
    }, { timeout: 15_000, interval: 200 });
    const validEvents = await eventsAbout(w(), ns, 'AzureIdentityBinding', 'valid-one-binding');
    expect(validEvents.filter((event) => event.type === 'Warning')).toEqual([]);
    expect(validEvents.some((event) => event.reason === 'binding applied')).toBe(true);
    const firstWave = countArm(await armRequests(w(), since));

    // The identity appears in Azure: the next retry assigns it.
    const createdAt = Date.now();
    await w().admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP, name: 'not-yet-created', clientId: missingClientId });
    await waitForStates(ns, 'app', { 'valid-one': 'Assigned', missing: 'Assigned' }, 45_000);
    expect(w().scaleSetIdentities()).toEqual(expect.arrayContaining([valid.id.toLowerCase(), missingId.toLowerCase()]));
    const all = countArm(await armRequests(w(), since));
    console.log(`[faults/invalid] Warning event: "${warning?.message ?? ''}"; ARM until the valid one was Assigned: ${firstWave.writes} PATCH, ${firstWave.reads} GET; the missing identity converged ${Date.now() - createdAt} ms after it was created; ARM in all: ${all.writes} PATCH, ${all.reads} GET, ${all.total} total`);
  });

  it('an identity deleted in Azure while its assignment runs: the other one lands, a clear Warning Event', async () => {
    const ns = await w().namespace('midflight');
    const kept = await bound(ns, 'kept', 'pair');
    const doomed = await bound(ns, 'doomed', 'pair');
    const since = await lastRequestSeq(w());
    // Long enough for the SDK to poll (Retry-After 1 s) before the operation ends; the first poll deletes the identity.
    await w().admin.setOptions({ lroDurationMs: { vmss: 3_000 } });
    const fault = await w().admin.addFault({ service: 'arm', method: 'GET', path: '/operations/', times: 1, action: { kind: 'delete-identity', identityId: doomed.id } });

    await w().createPod(ns, 'app', w().scaleSetNodes[0]!, 'pair');
    try {
      await deletedMidFlight(ns, kept, doomed, fault.id, since);
    } finally {
      // Leave the scale set without a forever-refused identity for the scenarios that follow.
      await w().deletePod(ns, 'app');
      await vi.waitFor(async () => {
        expect(await w().assignedFor(ns, 'app')).toEqual([]);
      }, { timeout: 30_000, interval: 200 });
    }
  });

  /** The checks of the scenario above (a function so that its clean-up runs whatever fails). */
  async function deletedMidFlight(ns: string, kept: { id: string }, doomed: { id: string }, faultId: string, since: number): Promise<void> {
    await waitForStates(ns, 'app', { kept: 'Assigned', doomed: 'Created' }, 40_000);
    expect((await w().admin.faults()).find((rule) => rule.id === faultId)?.hits).toBe(1);
    expect(w().scaleSetIdentities()).toContain(kept.id.toLowerCase());
    expect(w().scaleSetIdentities()).not.toContain(doomed.id.toLowerCase());
    let warning: { message: string } | undefined;
    await vi.waitFor(async () => {
      const events = await eventsAbout(w(), ns, 'AzureIdentityBinding', 'doomed-binding');
      warning = events.find((event) => event.type === 'Warning' && event.reason === 'binding apply error');
      expect(warning).toBeDefined();
    }, { timeout: 15_000, interval: 200 });
    // The event says which identity and why: ARM's own words.
    expect(warning?.message).toContain(doomed.id.toLowerCase());
    expect(warning?.message).toMatch(/not found/i);
    expect((await eventsAbout(w(), ns, 'AzureIdentityBinding', 'kept-binding')).filter((event) => event.type === 'Warning')).toEqual([]);
    const entries = await armRequests(w(), since);
    const patches = entries.filter(isScaleSetWrite);
    // Both identities in one PATCH (accepted; its operation failed), the kept one alone (landed), then
    // retries of the deleted one, each refused at once (400).
    expect(patches.slice(0, 2).map((entry) => entry.status)).toEqual([200, 200]);
    for (const entry of patches.slice(2)) expect(entry.status).toBe(400);
    const counts = countArm(entries);
    console.log(`[faults/deleted] Warning event: "${warning?.message ?? ''}"; ARM: ${patches.length} PATCH (${patches.map((entry) => entry.status).join(', ')}: both identities, operation failed; the kept one; retries of the deleted one), ${counts.reads} GET, ${counts.polls} polls`);
  }

  it('an identity removed from the scale set out of band is put back by the drift check', async () => {
    const ns = await w().namespace('drift');
    const azure = await bound(ns, 'drifty');
    await w().createPod(ns, 'app', w().scaleSetNodes[1]!, 'drifty');
    await waitForStates(ns, 'app', { drifty: 'Assigned' });
    expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());

    // Someone removes it through ARM (an operator, an AKS upgrade).
    const target = scaleSetTarget(w());
    const arm = await outOfBandArm(w());
    const current = await arm.getIdentity(target);
    for (const patch of buildIdentityPatches(current.identity, [], [azure.id])) await arm.patchIdentity(target, patch);
    const removedAt = Date.now();
    const since = await lastRequestSeq(w());
    expect(w().scaleSetIdentities()).not.toContain(azure.id.toLowerCase());

    await vi.waitFor(() => {
      expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());
    }, { timeout: 15_000, interval: 100 });
    const repairMs = Date.now() - removedAt;
    expect((await statesOf(ns, 'app'))['drifty']).toBe('Assigned');
    const counts = countArm(await armRequests(w(), since));
    console.log(`[faults/drift] identity back on the scale set ${repairMs} ms after the out-of-band removal (--drift-check-interval=2s); ARM: ${counts.writes} PATCH, ${counts.reads} GET`);
  });

  it('API server restarted while pods are created: the same MIC converges, no duplicate AAIs, one ARM write per target', async () => {
    const ns = await w().namespace('restart');
    const azure = await bound(ns, 'restart-id');
    const nodes = [...w().scaleSetNodes, ...w().vmNodes];
    const pods = Array.from({ length: 12 }, (_, index) => ({ name: `app-${index}`, node: nodes[index % nodes.length]! }));
    const pid = m().child.pid;
    const since = await lastRequestSeq(w());

    /** Creates the pod, retrying while the API server is away (a POST that landed before the cut is kept). */
    const create = async (pod: { name: string; node: string }): Promise<void> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          await w().createPod(ns, pod.name, pod.node, 'restart-id');
          return;
        } catch (error) {
          if (isStatus(error, 409)) {
            await w().setPodPhase(ns, pod.name, 'Running');
            return;
          }
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    };
    // Pods keep coming, 150 ms apart; the API server goes down after the fourth and comes back.
    let restartStarted = 0;
    let restartMs = 0;
    let restart: Promise<void> | undefined;
    for (const [index, pod] of pods.entries()) {
      if (index === 4) {
        restartStarted = Date.now();
        restart = w().plane.restartApiServer().then(() => {
          restartMs = Date.now() - restartStarted;
        });
      }
      await create(pod);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await restart;
    console.log(`[faults/apiserver-restart] restart took ${restartMs} ms`);

    await vi.waitFor(async () => {
      for (const pod of pods) expect(await statesOf(ns, pod.name)).toEqual({ 'restart-id': 'Assigned' });
    }, { timeout: 60_000, interval: 250 });
    expect(isRunning(m())).toBe(true);
    expect(m().child.pid).toBe(pid);
    expect(await waitForHealth(w(), m(), 'Active', 10_000)).toBeGreaterThanOrEqual(0);

    const assigned = (await w().assignedIdentities()).filter((entry) => entry.spec.podNamespace === ns);
    expect(assigned).toHaveLength(pods.length);
    expect(new Set(assigned.map((entry) => entry.spec.pod)).size).toBe(pods.length);
    expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());
    expect(w().vmIdentities(w().vmNodes[0]!)).toContain(azure.id.toLowerCase());
    const entries = await armRequests(w(), since);
    const counts = countArm(entries);
    const writesByTarget = new Map<string, number>();
    for (const entry of entries.filter(isComputeWrite)) writesByTarget.set(entry.path, (writesByTarget.get(entry.path) ?? 0) + 1);
    // Two targets (the scale set and the VM), each needing the identity once.
    expect(counts.writes).toBe(2);
    expect([...writesByTarget.values()]).toEqual([1, 1]);
    console.log(`[faults/apiserver-restart] kube-apiserver restart took ${restartMs} ms; ${pods.length} pods on ${nodes.length} nodes (2 targets) all Assigned by the same MIC process (pid ${pid}); AAIs: ${assigned.length}; ARM writes: ${counts.writes} (${[...writesByTarget.values()].join(' + ')}), GETs: ${counts.reads}`);
  }, 120_000);
});
