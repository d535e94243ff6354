import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLOUD_OPERATIONS } from '../../../src/mic/metrics.ts';
import { armRequests, countArm, lastRequestSeq, leaseHolder, MicWorld, waitForHealth, type MicProcess } from '../../support/mic-world.ts';

// Two (then three) MIC processes against one API server with the world's 4 s lease: exactly one is
// Active and writes to ARM; when it is killed the other takes over within lease duration + 2 s and
// resumes work; a graceful stop hands over at once; metrics are served with upstream's names.

const LEASE_MS = 4_000;

let world: MicWorld | undefined;
const mics: MicProcess[] = [];

beforeAll(async () => {
  world = await MicWorld.start({ scaleSetNodes: 3, vmNodes: 1 });
}, 120_000);

afterAll(async () => {
  if (process.env['MIC_TEST_LOGS'] === '1') for (const mic of mics) console.log(`--- ${mic.name}\n${mic.output()}`);
  await world?.stop();
});

function w(): MicWorld {
  if (world === undefined) throw new Error('world not started');
  return world;
}

async function start(name: string): Promise<MicProcess> {
  const mic = await w().startMic(name);
  mics.push(mic);
  return mic;
}

/** `/healthz` of each MIC, by name. */
async function healthOf(...list: MicProcess[]): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(list.map(async (mic) => [mic.name, await w().health(mic)] as const)));
}

/** The one Active MIC among `list` (fails unless exactly one is Active and the others are Not Active). */
async function theLeader(...list: MicProcess[]): Promise<MicProcess> {
  const health = await healthOf(...list);
  const active = list.filter((mic) => health[mic.name] === 'Active');
  expect(active.map((mic) => mic.name), JSON.stringify(health)).toHaveLength(1);
  for (const mic of list) if (mic !== active[0]) expect(health[mic.name]).toBe('Not Active');
  return active[0]!;
}

async function identityWithBinding(namespace: string, name: string): Promise<{ id: string }> {
  const azure = await w().azureIdentity(name);
  await w().createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await w().createBinding(namespace, `${name}-binding`, name, name);
  return azure;
}

async function waitAssigned(namespace: string, pods: readonly string[], timeout = 20_000): Promise<void> {
  await vi.waitFor(async () => {
    const assigned = (await w().assignedIdentities()).filter((entry) => entry.spec.podNamespace === namespace);
    for (const pod of pods) expect(assigned.filter((entry) => entry.spec.pod === pod).map((entry) => entry.status?.status), pod).toEqual(['Assigned']);
  }, { timeout, interval: 100 });
}

/** The value of one sample line of a Prometheus text exposition, e.g. `name{label="x"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('MIC leader election', () => {
  let first: MicProcess;
  let second: MicProcess;
  let leader: MicProcess;
  let standby: MicProcess;

  it('two replicas: exactly one is Active; a wave of pods costs at most one ARM write per target', async () => {
    first = await start('mic-a');
    second = await start('mic-b');
    await vi.waitFor(async () => {
      leader = await theLeader(first, second);
    }, { timeout: 30_000, interval: 200 });
    standby = leader === first ? second : first;
    // Still exactly one a few renew periods later.
    await new Promise((resolve) => setTimeout(resolve, LEASE_MS));
    expect(await theLeader(first, second)).toBe(leader);
    expect(await leaseHolder(w())).toBe(leader.name);

    const ns = await w().namespace('wave');
    const azure = await identityWithBinding(ns, 'wave-id');
    const nodes = [...w().scaleSetNodes, ...w().vmNodes];
    const pods = Array.from({ length: 24 }, (_, index) => ({ name: `p-${index}`, node: nodes[index % nodes.length]! }));
    const since = await lastRequestSeq(w());
    await Promise.all(pods.map((pod) => w().createPod(ns, pod.name, pod.node, 'wave-id')));
    await waitAssigned(ns, pods.map((pod) => pod.name));
    expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());
    expect(w().vmIdentities(w().vmNodes[0]!)).toContain(azure.id.toLowerCase());

    const entries = await armRequests(w(), since);
    const writes = new Map<string, number>();
    for (const entry of entries.filter((candidate) => candidate.method === 'PATCH' || candidate.method === 'PUT')) writes.set(entry.path, (writes.get(entry.path) ?? 0) + 1);
    // Two targets (the scale set, the VM); one write each, whoever might have tried.
    expect(writes.size).toBe(2);
    for (const count of writes.values()) expect(count).toBe(1);
    const counts = countArm(entries);
    console.log(`[leader/wave] leader ${leader.name}, standby ${standby.name}: ${pods.length} pods on ${nodes.length} nodes (2 targets) → ${counts.writes} ARM writes (${[...writes.values()].join(' + ')}), ${counts.reads} GET, ${counts.polls} polls`);
  }, 60_000);

  it('metrics: aadpodidentity_* served on the metrics port, cloud operations counted on the leader', async () => {
    const text = await w().metrics(leader);
    for (const name of [
      'aadpodidentity_cloud_provider_operations_duration_seconds',
      'aadpodidentity_cloud_provider_operations_errors_count',
      'aadpodidentity_kubernetes_api_operations_errors_count',
      'aadpodidentity_mic_cycle_duration_seconds',
      'aadpodidentity_mic_cycle_count',
      'aadpodidentity_mic_new_leader_election_count',
      'aadpodidentity_assigned_identity_addition_duration_seconds',
      'aadpodidentity_assigned_identity_addition_count',
      'aadpodidentity_mic_arm_writes_total',
      'aadpodidentity_mic_is_leader',
      'aadpodidentity_mic_reconcile_total',
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
    for (const operation of CLOUD_OPERATIONS) expect(text).toContain(`aadpodidentity_cloud_provider_operations_duration_seconds_count{operation_type="${operation}"}`);
    const count = (operation: string): number => sample(text, `aadpodidentity_cloud_provider_operations_duration_seconds_count{operation_type="${operation}"}`) ?? Number.NaN;
    expect(count('vmss_update')).toBeGreaterThanOrEqual(1);
    expect(count('vm_update')).toBeGreaterThanOrEqual(1);
    expect(count('vmss_get')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'aadpodidentity_mic_arm_writes_total{operation_type="vmss_update"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'aadpodidentity_mic_is_leader')).toBe(1);
    expect(sample(text, 'aadpodidentity_mic_new_leader_election_count')).toBe(1);
    // A target's last reconcile after a wave may still be a short requeue (cache catching up with MIC's
    // own writes); the quiet one that follows counts as a success.
    await vi.waitFor(async () => {
      expect(sample(await w().metrics(leader), 'aadpodidentity_mic_reconcile_total{result="success"}')).toBeGreaterThanOrEqual(1);
    }, { timeout: 10_000, interval: 100 });

    const standbyText = await w().metrics(standby);
    expect(sample(standbyText, 'aadpodidentity_mic_is_leader')).toBe(0);
    expect(sample(standbyText, 'aadpodidentity_cloud_provider_operations_duration_seconds_count{operation_type="vmss_update"}')).toBe(0);
    console.log(
      `[leader/metrics] leader: vmss_update ${count('vmss_update')}, vm_update ${count('vm_update')}, vmss_get ${count('vmss_get')}, vm_get ${count('vm_get')} cloud operations; ` +
        `aadpodidentity_mic_arm_writes_total vmss ${sample(text, 'aadpodidentity_mic_arm_writes_total{operation_type="vmss_update"}')}, vm ${sample(text, 'aadpodidentity_mic_arm_writes_total{operation_type="vm_update"}')}; standby: is_leader 0, no cloud operations`,
    );
  });

  it('the leader killed with SIGKILL: the standby is Active within lease duration + 2 s and resumes work', async () => {
    const killedAt = performance.now();
    leader.child.kill('SIGKILL');
    const failoverMs = await waitForHealth(w(), standby, 'Active', LEASE_MS + 10_000, 25);
    const measured = performance.now() - killedAt;
    expect(measured).toBeLessThanOrEqual(LEASE_MS + 2_000);
    expect(await leaseHolder(w())).toBe(standby.name);

    const ns = await w().namespace('after-kill');
    const azure = await identityWithBinding(ns, 'after-kill-id');
    const podAt = performance.now();
    await w().createPod(ns, 'late', w().scaleSetNodes[1]!, 'after-kill-id');
    await waitAssigned(ns, ['late']);
    const assignedMs = performance.now() - podAt;
    expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());
    console.log(`[leader/sigkill] failover: ${standby.name} Active ${Math.round(measured)} ms after SIGKILL of ${leader.name} (polled: ${Math.round(failoverMs)} ms; lease ${LEASE_MS} ms, target ≤ ${LEASE_MS + 2_000} ms); a new pod Assigned ${Math.round(assignedMs)} ms after creation`);
    [leader, standby] = [standby, leader];
  }, 30_000);

  it('graceful SIGTERM of the leader: the lease is released and a standby takes over at once', async () => {
    const third = await start('mic-c');
    await waitForHealth(w(), third, 'Not Active', 30_000);
    // Its informers are synced once it answers /readyz; give it a renew period to observe the lease.
    await vi.waitFor(async () => {
      expect((await fetch(`http://127.0.0.1:${third.healthPort}/readyz`)).status).toBe(200);
    }, { timeout: 30_000, interval: 100 });
    expect(await theLeader(leader, third)).toBe(leader);

    const stoppedAt = performance.now();
    const exit = leader.stop('SIGTERM');
    const handoverMs = await waitForHealth(w(), third, 'Active', LEASE_MS + 10_000, 25);
    const measured = performance.now() - stoppedAt;
    expect(await exit).toBe(0);
    expect(leader.output()).toContain('released the lease');
    // Released: no waiting for the lease to expire (a candidate retries every quarter of the lease).
    expect(measured).toBeLessThan(LEASE_MS);

    const ns = await w().namespace('after-term');
    await identityWithBinding(ns, 'after-term-id');
    await w().createPod(ns, 'late', w().vmNodes[0]!, 'after-term-id');
    await waitAssigned(ns, ['late']);
    console.log(`[leader/sigterm] handover: ${third.name} Active ${Math.round(measured)} ms after SIGTERM of ${leader.name} (polled: ${Math.round(handoverMs)} ms; lease ${LEASE_MS} ms); exit code 0; a new pod Assigned`);
  }, 60_000);
});
