import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UNASSIGNED_AT_ANNOTATION } from '../../../src/api/index.ts';
import { MicWorld, type MicProcess } from '../../support/mic-world.ts';
import { armWriteLog, recordAssigned, updateAzureJson } from '../../support/mic-behaviour.ts';

// MIC's behaviour under settings that change its rules, one MIC at a time in one world (each stops
// and hands the lease to the next): immutable identities (flag and the cluster identity of
// azure.json, also changed live), namespaced mode (flag and FORCENAMESPACED), and a removal grace
// period that makes rolling updates free of ARM writes.

let world: MicWorld | undefined;
let mic: MicProcess | undefined;
/** The cluster identity named by azure.json's userAssignedIdentityID when the world starts. */
let cluster: { id: string; clientId: string } | undefined;

function w(): MicWorld {
  if (world === undefined) throw new Error('world not started');
  return world;
}

/** Stops the running MIC (it releases the lease) and starts another with `extraArgs`/`env`; waits until it leads. */
async function switchMic(name: string, extraArgs: readonly string[] = [], env: Record<string, string> = {}): Promise<MicProcess> {
  if (mic !== undefined && process.env['MIC_TEST_LOGS'] === '1') console.log(mic.output());
  await mic?.stop();
  const next = await w().startMic(name, extraArgs, env);
  mic = next;
  await vi.waitFor(async () => { expect(await w().health(next)).toBe('Active'); }, { timeout: 30_000, interval: 200 });
  return next;
}

beforeAll(async () => {
  const started = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 0 });
  world = started;
  const azure = await started.azureIdentity('cluster-identity');
  cluster = { id: azure.id.toLowerCase(), clientId: azure.clientId };
  updateAzureJson(started, { userAssignedIdentityID: azure.clientId });
}, 120_000);

afterAll(async () => {
  if (mic !== undefined && process.env['MIC_TEST_LOGS'] === '1') console.log(mic.output());
  await world?.stop();
});

const WAIT = { timeout: 30_000, interval: 100 };

/** A user-assigned identity in the simulator, its AzureIdentity and a binding with selector `selector`. */
async function boundIdentity(namespace: string, name: string, selector = name): Promise<{ id: string; clientId: string }> {
  const azure = await w().azureIdentity(name);
  await w().createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await w().createBinding(namespace, `${name}-binding`, name, selector);
  return { id: azure.id.toLowerCase(), clientId: azure.clientId };
}

async function waitAssigned(namespace: string, pod: string, count: number): Promise<void> {
  await vi.waitFor(async () => {
    const states = (await w().assignedFor(namespace, pod)).map((entry) => entry.status?.status);
    expect(states).toEqual(Array.from({ length: count }, () => 'Assigned'));
  }, WAIT);
}

async function waitNoAssigned(namespace: string, pod: string): Promise<void> {
  await vi.waitFor(async () => { expect(await w().assignedFor(namespace, pod)).toEqual([]); }, WAIT);
}

describe('immutable identities', () => {
  let immutable: { id: string; clientId: string } | undefined;

  beforeAll(async () => {
    const ns = await w().namespace('immutable');
    immutable = await boundIdentity(ns, 'immutable', 'app');
    // Upper-cased on the command line: client IDs compare case-insensitively.
    await switchMic('mic-immutable', [`--immutable-user-msis=${immutable.clientId.toUpperCase()},00000000-0000-0000-0000-00000000dead`]);
  });

  it('--immutable-user-msis and azure.json userAssignedIdentityID are never removed after their pods go (a mutable one is)', async () => {
    const ns = 'immutable';
    if (immutable === undefined || cluster === undefined) throw new Error('setup');
    await w().createIdentity(ns, 'cluster', { type: 0, resourceID: cluster.id, clientID: cluster.clientId });
    await w().createBinding(ns, 'cluster-binding', 'cluster', 'app');
    const control = await boundIdentity(ns, 'control', 'app');
    await w().createPod(ns, 'app', w().scaleSetNodes[0]!, 'app');
    await waitAssigned(ns, 'app', 3);
    expect(w().scaleSetIdentities()).toEqual([immutable.id, cluster.id, control.id].sort());

    await w().deletePod(ns, 'app');
    await waitNoAssigned(ns, 'app');
    // The control identity goes in the same removal wave the others would have been part of.
    await vi.waitFor(() => { expect(w().scaleSetIdentities()).not.toContain(control.id); }, WAIT);
    expect(w().scaleSetIdentities()).toEqual([immutable.id, cluster.id].sort());
  });

  it('a new userAssignedIdentityID in azure.json is honoured without a restart', async () => {
    const ns = 'immutable';
    const next = await boundIdentity(ns, 'cluster-next', 'next');
    const control = await boundIdentity(ns, 'control-next', 'next');
    updateAzureJson(w(), { userAssignedIdentityID: next.clientId });
    await vi.waitFor(() => { expect(mic?.output()).toContain('cloud config changed'); }, WAIT);

    await w().createPod(ns, 'next', w().scaleSetNodes[1]!, 'next');
    await waitAssigned(ns, 'next', 2);
    expect(w().scaleSetIdentities()).toEqual(expect.arrayContaining([next.id, control.id]));
    await w().deletePod(ns, 'next');
    await waitNoAssigned(ns, 'next');
    await vi.waitFor(() => { expect(w().scaleSetIdentities()).not.toContain(control.id); }, WAIT);
    expect(w().scaleSetIdentities()).toContain(next.id);
  });
});

describe.each<{ how: string; args: string[]; env: Record<string, string> }>([
  { how: '--forceNamespaced', args: ['--forceNamespaced'], env: {} },
  { how: 'FORCENAMESPACED=true', args: [], env: { FORCENAMESPACED: 'true' } },
])('namespaced mode ($how)', ({ how, args, env }) => {
  const suffix = how.startsWith('--') ? 'flag' : 'env';

  beforeAll(async () => {
    await switchMic(`mic-namespaced-${suffix}`, args, env);
  });

  it('a pod in another namespace than identity and binding gets no AAI; in the same namespace it does, and the AAI lives there', async () => {
    const home = await w().namespace(`home-${suffix}`);
    const away = await w().namespace(`away-${suffix}`);
    const identity = await boundIdentity(home, `scoped-${suffix}`, 'scoped');
    // The outsider first: by the time the insider is Assigned, MIC has seen both.
    await w().createPod(away, 'outsider', w().scaleSetNodes[0]!, 'scoped');
    await w().createPod(home, 'insider', w().scaleSetNodes[0]!, 'scoped');
    await waitAssigned(home, 'insider', 1);
    const [insider] = await w().assignedFor(home, 'insider');
    expect(insider?.metadata.namespace).toBe(home);
    expect(await w().assignedFor(away, 'outsider')).toEqual([]);
    expect(w().scaleSetIdentities()).toContain(identity.id);

    await w().deletePod(away, 'outsider');
    await w().deletePod(home, 'insider');
    await waitNoAssigned(home, 'insider');
    await vi.waitFor(() => { expect(w().scaleSetIdentities()).not.toContain(identity.id); }, WAIT);
  });
});

describe('removal grace period (--identity-removal-grace-period=10s)', () => {
  beforeAll(async () => {
    await switchMic('mic-grace', ['--identity-removal-grace-period=10s']);
  });

  it('a rolling update (pod A deleted, pod B created, same identity and scale set) costs no ARM write; the identity goes only after the grace period', async () => {
    const ns = await w().namespace('rolling');
    const identity = await boundIdentity(ns, 'rolling');
    await w().createPod(ns, 'web-a', w().scaleSetNodes[0]!, 'rolling');
    await waitAssigned(ns, 'web-a', 1);
    expect(w().scaleSetIdentities()).toContain(identity.id);
    const writes = (await armWriteLog(w())).length;

    const history = await recordAssigned(w());
    try {
      await w().deletePod(ns, 'web-a');
      await w().createPod(ns, 'web-b', w().scaleSetNodes[1]!, 'rolling');
      await waitAssigned(ns, 'web-b', 1);
      await waitNoAssigned(ns, 'web-a');
      expect(history.states('default', `web-a-${ns}-rolling`)).toEqual(['Assigned', 'Unassigned', 'deleted']);
    } finally {
      history.stop();
    }
    expect(w().scaleSetIdentities()).toContain(identity.id);
    expect((await armWriteLog(w())).length).toBe(writes);

    // The last pod goes: its AAI is Unassigned at once, the identity stays for the grace period.
    await w().deletePod(ns, 'web-b');
    let unassignedAt = 0;
    await vi.waitFor(async () => {
      const [entry] = await w().assignedFor(ns, 'web-b');
      expect(entry?.status?.status).toBe('Unassigned');
      unassignedAt = Date.parse(entry?.metadata.annotations?.[UNASSIGNED_AT_ANNOTATION] ?? '');
      expect(unassignedAt).toBeGreaterThan(0);
    }, WAIT);
    expect(w().scaleSetIdentities()).toContain(identity.id);
    await vi.waitFor(() => { expect(w().scaleSetIdentities()).not.toContain(identity.id); }, WAIT);
    // Polled every 100 ms, and the annotation has whole-millisecond precision: allow a little slack.
    expect(Date.now() - unassignedAt).toBeGreaterThanOrEqual(9_900);
    await waitNoAssigned(ns, 'web-b');
    expect((await armWriteLog(w())).length).toBe(writes + 1);
  });
});
