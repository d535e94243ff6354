import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readAuditEvents } from '../../../src/devenv/audit.ts';
import { armRequests, countArm, lastRequestSeq, MicWorld, waitForHealth, type MicProcess } from '../../support/mic-world.ts';
import { locateUpstreamLock, startUpstreamLock, type UpstreamLockProcess } from '../../support/upstream-lock.ts';

// The MIC handover of a rolling switch from aad-pod-identity: an upstream-like process holds upstream's
// Endpoints lock (test/peers/upstream-lock: client-go v0.23's elector configured as upstream's MIC), and our MIC
// runs with --leader-election-resource-lock=endpointsleases. While upstream leads ours is never Active and
// writes nothing (no AAI, no ARM write, no API write at all); once upstream's pod is gone ours takes both
// locks within the lease duration + 2 s and assigns; while ours leads, upstream never acquires.

const LEASE_MS = 4_000; // the world's --leader-election-duration
const WATCH_MS = 2.5 * LEASE_MS;

let world: MicWorld | undefined;
const mics: MicProcess[] = [];
const helpers: UpstreamLockProcess[] = [];

beforeAll(async () => {
  await locateUpstreamLock();
  world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0 });
}, 15 * 60_000);

afterAll(async () => {
  if (process.env['MIC_TEST_LOGS'] === '1') for (const mic of mics) console.log(`--- ${mic.name}\n${mic.output()}`);
  for (const helper of helpers) await helper.stop('SIGKILL');
  await world?.stop();
});

function w(): MicWorld {
  if (world === undefined) throw new Error('world not started');
  return world;
}

async function upstream(identity: string): Promise<UpstreamLockProcess> {
  const helper = await startUpstreamLock({ kubeconfig: w().plane.kubeconfigPath, namespace: 'kube-system', identity, durationMs: LEASE_MS });
  helpers.push(helper);
  return helper;
}

/** `/healthz` sampled every 100 ms for `ms`: the distinct answers seen. */
async function healthOver(mic: MicProcess, ms: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (const end = performance.now() + ms; performance.now() < end; ) {
    seen.add(await w().health(mic));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return seen;
}

/** API writes (any verb but get/list/watch) by `user`, anywhere. */
async function apiWritesBy(user: string): Promise<string[]> {
  return (await readAuditEvents(w().plane.auditLogPath))
    .filter((event) => event.user.username === user && !['get', 'list', 'watch'].includes(event.verb))
    .map((event) => `${event.verb} ${event.requestURI}`);
}

describe('MIC with --leader-election-resource-lock=endpointsleases beside an upstream MIC', () => {
  let mic: MicProcess;

  it('stays passive while upstream holds the Endpoints lock, then takes over within the lease duration + 2 s', async () => {
    const first = await upstream('upstream-mic-0');
    await first.waitFor('leading', 10_000);

    const ns = await w().namespace('switch');
    const azure = await w().azureIdentity('switch-id');
    await w().createIdentity(ns, 'switch-id', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await w().createBinding(ns, 'switch-binding', 'switch-id', 'switch-id');
    await w().createPod(ns, 'app', w().scaleSetNodes[0]!, 'switch-id');

    const since = await lastRequestSeq(w());
    const user = 'mic-switch';
    const kubeconfig = await w().plane.createClientCertUser(user, ['system:masters']);
    mic = await w().startMic('mic-new', [`--kubeconfig=${kubeconfig}`, '--leader-election-resource-lock=endpointsleases']);
    mics.push(mic);
    // Informers synced: an Active MIC would now assign at once.
    await vi.waitFor(async () => {
      expect((await fetch(`http://127.0.0.1:${mic.healthPort}/readyz`)).status).toBe(200);
    }, { timeout: 30_000, interval: 100 });
    expect([...(await healthOver(mic, WATCH_MS))]).toEqual(['Not Active']);
    expect(await w().assignedFor(ns, 'app')).toEqual([]);
    const passiveArm = countArm(await armRequests(w(), since));
    expect(passiveArm.writes).toBe(0);
    expect(await apiWritesBy(user)).toEqual([]);

    // Upstream's pod is deleted: SIGTERM ends it without releasing, so ours waits for the expiry.
    const killedAt = performance.now();
    await first.stop('SIGTERM');
    const polledMs = await waitForHealth(w(), mic, 'Active', LEASE_MS + 10_000, 25);
    const handoverMs = performance.now() - killedAt;
    expect(handoverMs).toBeLessThanOrEqual(LEASE_MS + 2_000);
    await vi.waitFor(async () => {
      expect((await w().assignedFor(ns, 'app')).map((entry) => entry.status?.status)).toEqual(['Assigned']);
    }, { timeout: 20_000, interval: 100 });
    expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());
    console.log(
      `[endpointsleases/mic] passive ${WATCH_MS} ms beside upstream: /healthz only "Not Active", 0 AAIs, ${passiveArm.writes} ARM writes (${passiveArm.total} ARM requests), 0 API writes; ` +
        `upstream SIGTERM → ours Active ${Math.round(handoverMs)} ms (polled ${Math.round(polledMs)} ms; lease ${LEASE_MS} ms, bound ${LEASE_MS + 2_000} ms); the pod's AAI Assigned`,
    );
  }, 90_000);

  it('while ours leads an upstream replica never acquires; ours stopping hands the lock over at once', async () => {
    const second = await upstream('upstream-mic-1');
    expect((await second.waitFor('new-leader', 10_000)).leader).toBe('mic-new');
    expect([...(await healthOver(mic, WATCH_MS))]).toEqual(['Active']);
    expect(second.events.map((event) => event.event)).not.toContain('leading');

    const stoppedAt = performance.now();
    expect(await mic.stop('SIGTERM')).toBe(0);
    expect(mic.output()).toContain('released the lease');
    const leading = await second.waitFor('leading', LEASE_MS + 4_000);
    const handoverMs = leading.seenAt - stoppedAt;
    expect(handoverMs).toBeLessThan(LEASE_MS);
    console.log(`[endpointsleases/mic] ours led ${WATCH_MS} ms with an upstream replica campaigning: it never led; ours SIGTERM → upstream leading ${Math.round(handoverMs)} ms`);
  }, 60_000);
});
