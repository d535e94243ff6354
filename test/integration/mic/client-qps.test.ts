/**
 * `--clientQps` against the real kube-apiserver: MIC's Kubernetes requests (every list, get, write
 * and watch opening; not the leader lock) never exceed client-go's token bucket (QPS, burst int(QPS))
 * in the API server's audit log, and the work still converges. The same workload from an MIC without
 * the flag exceeds that bound, so the check can tell paced from unpaced.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readAuditEvents, type AuditEvent } from '../../../src/devenv/audit.ts';
import { MicWorld, type MicProcess } from '../../support/mic-world.ts';

const QPS = 3;
const BURST = 3;
const PODS = 6;
/** The API server timestamps arrival; the client paced departure. Network jitter on loopback is far below this. */
const SLACK_MS = 50;

let started: MicWorld | undefined;

function world(): MicWorld {
  if (started === undefined) throw new Error('world not started');
  return started;
}

beforeAll(async () => {
  started = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } });
}, 120_000);

afterAll(async () => {
  await started?.stop();
});

/** Arrival times (ms) of `user`'s requests other than the leader lock's, one per request. */
async function pacedArrivals(user: string): Promise<number[]> {
  const byId = new Map<string, AuditEvent>();
  for (const event of await readAuditEvents(world().plane.auditLogPath)) {
    if (event.user.username === user && event.objectRef?.resource !== 'leases' && !byId.has(event.auditID)) byId.set(event.auditID, event);
  }
  return [...byId.values()].map((event) => Date.parse(event.requestReceivedTimestamp ?? '')).sort((a, b) => a - b);
}

/** The largest excess over the token bucket's allowance in any interval [tᵢ, tⱼ]: ≤ 0 means never faster. */
function worstExcess(arrivals: readonly number[]): { excess: number; most1s: number } {
  let excess = -Infinity;
  let most1s = 0;
  for (let i = 0; i < arrivals.length; i++) {
    for (let j = i; j < arrivals.length; j++) {
      const spanMs = (arrivals[j] ?? 0) - (arrivals[i] ?? 0);
      const allowed = BURST + Math.floor((QPS * (spanMs + SLACK_MS)) / 1000);
      excess = Math.max(excess, j - i + 1 - allowed);
      if (spanMs <= 1000) most1s = Math.max(most1s, j - i + 1);
    }
  }
  return { excess, most1s };
}

/** Starts MIC as its own user, waits for Active, assigns PODS pods; resolves with that user. */
async function runWorkload(name: string, args: readonly string[]): Promise<{ user: string; mic: MicProcess; convergeMs: number }> {
  const user = name;
  const kubeconfig = await world().plane.createClientCertUser(user, ['system:masters']);
  const mic = await world().startMic(name, [`--kubeconfig=${kubeconfig}`, ...args]);
  await vi.waitFor(async () => { expect(await world().health(mic)).toBe('Active'); }, { timeout: 30_000, interval: 100 });
  const ns = await world().namespace(`qps-${name}`);
  const azure = await world().azureIdentity(`qps-${name}`);
  await world().createIdentity(ns, 'id', { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await world().createBinding(ns, 'binding', 'id', 'sel');
  const started = performance.now();
  for (let index = 0; index < PODS; index++) await world().createPod(ns, `pod-${index}`, world().scaleSetNodes[index % 2] ?? '', 'sel');
  await vi.waitFor(async () => {
    const states = await Promise.all(Array.from({ length: PODS }, async (_, index) => (await world().assignedFor(ns, `pod-${index}`)).map((entry) => entry.status?.status).join()));
    expect(states).toEqual(Array.from({ length: PODS }, () => 'Assigned'));
  }, { timeout: 60_000, interval: 200 });
  const convergeMs = performance.now() - started;
  // The work ends with one "binding applied" Event per pod, written after the AAI.
  await vi.waitFor(async () => {
    const events = (await readAuditEvents(world().plane.auditLogPath)).filter((event) => event.user.username === user && event.verb === 'create' && event.objectRef?.resource === 'events');
    expect(events.length).toBeGreaterThanOrEqual(PODS);
  }, { timeout: 30_000, interval: 200 });
  return { user, mic, convergeMs };
}

describe('--clientQps', () => {
  it(`paces MIC's requests to ${QPS}/s with bursts of ${BURST}; without it the same workload goes faster`, async () => {
    const free = await runWorkload('mic-free', []);
    expect(await free.mic.stop()).toBe(0);
    const unpaced = worstExcess(await pacedArrivals(free.user));

    const paced = await runWorkload('mic-paced', [`--clientQps=${QPS}`]);
    expect(paced.mic.output()).toContain('"clientQps":3');
    const arrivals = await pacedArrivals(paced.user);
    const measured = worstExcess(arrivals);
    console.log(
      `[clientQps] unpaced: ${(await pacedArrivals(free.user)).length} requests, most in 1 s ${unpaced.most1s} (excess over the bucket ${unpaced.excess}), ${PODS} pods Assigned in ${Math.round(free.convergeMs)} ms; ` +
        `--clientQps=${QPS}: ${arrivals.length} requests, most in 1 s ${measured.most1s} (excess ${measured.excess}), ${PODS} pods Assigned in ${Math.round(paced.convergeMs)} ms`,
    );
    // Enough requests that the bucket mattered, and never more than it allows.
    expect(arrivals.length).toBeGreaterThan(BURST + QPS * 2);
    expect(measured.excess).toBeLessThanOrEqual(0);
    expect(measured.most1s).toBeLessThanOrEqual(BURST + QPS);
    // The check tells the difference: unpaced, the same workload exceeds the bucket.
    expect(unpaced.excess).toBeGreaterThan(0);
  }, 120_000);
});
