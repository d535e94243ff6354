import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { locateUpstreamBinaries, type UpstreamBinaries } from '../../../src/devenv/upstream-binaries.ts';
import type { LroKind } from '../../../src/sim/arm/operations.ts';
import type { LroPollEntry } from '../../../src/sim/client.ts';
import { identityResourceId, MicWorld, type MicProcess } from '../../support/mic-world.ts';
import { startUpstreamMic, type UpstreamMicOptions } from '../../support/upstream-mic.ts';

// The archived project's own MIC (scripts/upstream-aad-pod-identity-tag) against our simulator with no
// shim: it asks Entra ID for a token whose audience is the simulator's ARM endpoint, and it honours the
// simulator's Retry-After on the operations it polls. Missing binaries fail every test with the command
// that builds them.

// Long enough that a client ignoring Retry-After (or getting 0) would poll hundreds of times.
const LRO_MS = { vm: 1_500, vmss: 2_500 };
const RETRY_AFTER_SECONDS = 1;
/** Polls a client honouring Retry-After makes: one at once, then one per Retry-After until done, plus slack. */
const maxPolls = (durationMs: number): number => 1 + Math.ceil(durationMs / (RETRY_AFTER_SECONDS * 1000)) + 1;

let binaries: UpstreamBinaries | undefined;
let missing: unknown;
let world: MicWorld | undefined;

beforeAll(async () => {
  try {
    binaries = await locateUpstreamBinaries();
  } catch (error) {
    // Each test fails with it (a failing beforeAll would show the tests as skipped).
    missing = error;
    return;
  }
  world = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 1, lroDurationMs: LRO_MS });
}, 120_000);

afterAll(async () => {
  await world?.stop();
});

function w(): MicWorld {
  if (world === undefined) throw new Error('the world did not start');
  return world;
}

/** Runs upstream's MIC for the duration of `body`, Active first; its log is in the error when anything fails. */
async function withUpstreamMic(options: UpstreamMicOptions, body: (mic: MicProcess) => Promise<void>): Promise<void> {
  if (binaries === undefined) throw missing;
  const mic = await startUpstreamMic(w(), binaries, options);
  try {
    await vi.waitFor(async () => { expect(await w().health(mic)).toBe('Active'); }, { timeout: 60_000, interval: 200 });
    await body(mic);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- upstream MIC ${options.name} (last 4000 characters of its log) ---\n${mic.output().slice(-4_000)}`, { cause: error });
  } finally {
    await mic.stop();
  }
}

async function waitForAssigned(namespace: string, pod: string): Promise<void> {
  await vi.waitFor(async () => {
    const assigned = await w().assignedFor(namespace, pod);
    expect(assigned.map((entry) => entry.status?.status)).toEqual(['Assigned']);
  }, { timeout: 30_000, interval: 200 });
}

async function waitForGone(namespace: string, pod: string, identities: () => string[], id: string): Promise<void> {
  await vi.waitFor(async () => {
    expect(await w().assignedFor(namespace, pod)).toEqual([]);
    expect(identities()).not.toContain(id);
  }, { timeout: 30_000, interval: 200 });
}

/** Operations of `kind` on `resource` that started after `known` were listed, all finished. */
async function newOperations(resource: string, kind: LroKind, known: ReadonlySet<string>): Promise<LroPollEntry[]> {
  const operations = (await w().admin.operationPolls({ resource, kind })).filter((entry) => !known.has(entry.operationId));
  expect(operations.length).toBeGreaterThan(0);
  for (const operation of operations) expect(operation.status).toBe('Succeeded');
  return operations;
}

async function operationIds(): Promise<Set<string>> {
  return new Set((await w().admin.operationPolls()).map((entry) => entry.operationId));
}

/** ARM answers after `since` that were not successes: a 401 (audience) or any other 4xx/5xx. */
async function armFailures(since: number): Promise<string[]> {
  const { entries } = await w().admin.requests({ service: 'arm', since });
  return entries.filter((entry) => entry.status >= 400).map((entry) => `${entry.method} ${entry.path} → ${entry.status}`);
}

async function lastSeq(): Promise<number> {
  return (await w().admin.requests({ limit: 1 })).lastSeq;
}

async function bind(namespace: string, name: string): Promise<string> {
  const azure = await w().azureIdentity(name);
  await w().createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await w().createBinding(namespace, `${name}-binding`, name, name);
  return azure.id.toLowerCase();
}

describe(`upstream aad-pod-identity MIC on the simulator, no shim`, () => {
  it('a pod on a scale-set node (vmType vmss): AAI Assigned, the identity on the VMSS, then removed with the pod; few polls per operation', async () => {
    await withUpstreamMic({ name: 'upstream-vmss', vmType: 'vmss', leaderElectionName: 'upstream-mic-vmss' }, async () => {
      const ns = await w().namespace('upstream-vmss');
      const id = await bind(ns, 'up-vmss');
      const since = await lastSeq();
      const before = await operationIds();
      await w().createPod(ns, 'app', w().scaleSetNodes[0]!, 'up-vmss');
      await waitForAssigned(ns, 'app');
      expect(w().scaleSetIdentities()).toContain(id);
      const [assigned] = await w().assignedFor(ns, 'app');
      expect(assigned?.spec).toMatchObject({ pod: 'app', podNamespace: ns, nodename: w().scaleSetNodes[0] });
      const added = await newOperations(w().scaleSet.name, 'vmssUpdate', before);
      for (const operation of added) expect(operation.polls).toBeLessThanOrEqual(maxPolls(LRO_MS.vmss));

      const beforeRemoval = await operationIds();
      await w().deletePod(ns, 'app');
      await waitForGone(ns, 'app', () => w().scaleSetIdentities(), id);
      const removed = await newOperations(w().scaleSet.name, 'vmssUpdate', beforeRemoval);
      for (const operation of removed) expect(operation.polls).toBeLessThanOrEqual(maxPolls(LRO_MS.vmss));
      expect(await armFailures(since)).toEqual([]);
    });
  }, 150_000);

  it('an identity missing in Azure does not block the others: upstream reads the failing IDs out of ARM’s FailedIdentityOperation and retries without them', async () => {
    await withUpstreamMic({ name: 'upstream-ghost', vmType: 'vmss', leaderElectionName: 'upstream-mic-ghost' }, async () => {
      const ns = await w().namespace('upstream-ghost');
      const ghostId = identityResourceId('up-ghost');
      await w().createIdentity(ns, 'up-ghost', { type: 0, resourceID: ghostId, clientID: '00000000-0000-4000-8000-00000000dead' });
      await w().createBinding(ns, 'up-ghost-binding', 'up-ghost', 'up-ghost');
      const id = await bind(ns, 'up-real');
      await w().createPod(ns, 'ghost', w().scaleSetNodes[1]!, 'up-ghost');
      await w().createPod(ns, 'real', w().scaleSetNodes[1]!, 'up-real');
      await waitForAssigned(ns, 'real');
      expect(w().scaleSetIdentities()).toContain(id);
      expect(w().scaleSetIdentities()).not.toContain(ghostId.toLowerCase());
      const { entries } = await w().admin.requests({ service: 'arm', method: 'PATCH', status: 400 });
      expect(entries.length).toBeGreaterThan(0);
      await w().deletePod(ns, 'real');
      await w().deletePod(ns, 'ghost');
      await waitForGone(ns, 'real', () => w().scaleSetIdentities(), id);
      await waitForGone(ns, 'ghost', () => w().scaleSetIdentities(), ghostId.toLowerCase());
    });
  }, 150_000);

  it('a pod on a standalone VM node (vmType standard): AAI Assigned, the identity on that VM only, then removed with the pod', async () => {
    await withUpstreamMic({ name: 'upstream-vm', vmType: 'standard', leaderElectionName: 'upstream-mic-vm' }, async () => {
      const ns = await w().namespace('upstream-vm');
      const id = await bind(ns, 'up-vm');
      const node = w().vmNodes[0]!;
      const since = await lastSeq();
      const before = await operationIds();
      await w().createPod(ns, 'app', node, 'up-vm');
      await waitForAssigned(ns, 'app');
      expect(w().vmIdentities(node)).toEqual([id]);
      expect(w().scaleSetIdentities()).not.toContain(id);
      const added = await newOperations(`/virtualMachines/${node}`, 'vmUpdate', before);
      for (const operation of added) expect(operation.polls).toBeLessThanOrEqual(maxPolls(LRO_MS.vm));

      const beforeRemoval = await operationIds();
      await w().deletePod(ns, 'app');
      await waitForGone(ns, 'app', () => w().vmIdentities(node), id);
      const removed = await newOperations(`/virtualMachines/${node}`, 'vmUpdate', beforeRemoval);
      for (const operation of removed) expect(operation.polls).toBeLessThanOrEqual(maxPolls(LRO_MS.vm));
      expect(await armFailures(since)).toEqual([]);
    });
  }, 150_000);
});
