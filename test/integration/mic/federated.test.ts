import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { IdentityType } from '../../../src/api/index.ts';
import { armRequests, countArm, lastRequestSeq } from '../../support/mic-world.ts';
import { useMicWorld } from '../../support/mic-suite.ts';

// Federated identities (type 3) need no node assignment: MIC writes their AAIs `Assigned` as soon as
// the pod matches and never calls ARM for them, on scale-set and VM nodes alike; beside a type-0
// identity on the same node only the type-0 identity is written to the VM or scale set.

const suite = useMicWorld({ scaleSetNodes: 2, vmNodes: 1 });
const w = suite.world;

/** Long enough for a reconcile that had started to have sent its ARM calls. */
const SETTLE_MS = 1_000;

async function waitForStates(namespace: string, pod: string, states: string[]): Promise<void> {
  await vi.waitFor(async () => {
    const assigned = await w().assignedFor(namespace, pod);
    expect(assigned.map((entry) => entry.status?.status)).toEqual(states);
  }, { timeout: 20_000, interval: 100 });
}

/** A user-assigned identity in the simulator, and an AzureIdentity of type 3 for it (with its resourceID, which MIC must not assign). */
async function federatedIdentity(namespace: string, name: string): Promise<{ id: string; clientId: string }> {
  const azure = await w().azureIdentity(name);
  await w().createIdentity(namespace, name, { type: IdentityType.FederatedIdentity, clientID: azure.clientId, tenantID: w().sim.tenantId, resourceID: azure.id });
  return azure;
}

describe('MIC and federated identities (type 3)', () => {
  it('pods on scale-set and VM nodes get Assigned AAIs with 0 ARM requests, and lose them with 0 ARM requests', async () => {
    const ns = await w().namespace('federated');
    const since = await lastRequestSeq(w());
    const azure = await federatedIdentity(ns, 'fed');
    await w().createBinding(ns, 'fed-binding', 'fed', 'fed');
    const nodes = [w().scaleSetNodes[0]!, w().scaleSetNodes[1]!, w().vmNodes[0]!];
    for (const [index, node] of nodes.entries()) await w().createPod(ns, `app-${index}`, node, 'fed');

    for (const index of nodes.keys()) await waitForStates(ns, `app-${index}`, ['Assigned']);
    const [assigned] = await w().assignedFor(ns, 'app-2');
    expect(assigned?.spec.nodename).toBe(w().vmNodes[0]);
    expect(assigned?.spec.azureIdentityRef?.spec).toMatchObject({ type: 3, clientID: azure.clientId });

    await sleep(SETTLE_MS);
    expect(await armRequests(w(), since)).toEqual([]);
    expect(w().scaleSetIdentities()).toEqual([]);
    expect(w().vmIdentities(w().vmNodes[0]!)).toEqual([]);

    for (const index of nodes.keys()) await w().deletePod(ns, `app-${index}`);
    await vi.waitFor(async () => {
      expect((await w().assignedIdentities()).filter((entry) => entry.spec.podNamespace === ns)).toEqual([]);
    }, { timeout: 20_000, interval: 100 });
    await sleep(SETTLE_MS);
    expect(await armRequests(w(), since)).toEqual([]);
  });

  it('beside a type-0 identity on the same node, only the type-0 identity is written to the scale set', async () => {
    const ns = await w().namespace('federated-mixed');
    const node = w().scaleSetNodes[1]!;
    const reader = await w().azureIdentity('reader');
    await w().createIdentity(ns, 'reader', { type: IdentityType.UserAssignedMSI, resourceID: reader.id, clientID: reader.clientId });
    const federated = await federatedIdentity(ns, 'fed-mixed');
    // Pod `both` is bound to both identities (two bindings, one selector); pod `fed-only` to the federated one.
    await w().createBinding(ns, 'reader-binding', 'reader', 'mixed');
    await w().createBinding(ns, 'fed-binding', 'fed-mixed', 'mixed');
    await w().createBinding(ns, 'fed-only-binding', 'fed-mixed', 'fed-only');
    const since = await lastRequestSeq(w());
    await w().createPod(ns, 'both', node, 'mixed');
    await w().createPod(ns, 'fed-only', node, 'fed-only');

    await waitForStates(ns, 'both', ['Assigned', 'Assigned']);
    await waitForStates(ns, 'fed-only', ['Assigned']);
    await sleep(SETTLE_MS);
    const written = countArm(await armRequests(w(), since));
    expect(written.writes).toBe(1);
    expect(w().scaleSetIdentities()).toEqual([reader.id.toLowerCase()]);
    expect(w().scaleSetIdentities()).not.toContain(federated.id.toLowerCase());

    // The type-0 identity goes with the last pod that needs it; the federated pod keeps its AAI and
    // does not keep the identity on the scale set.
    await w().deletePod(ns, 'both');
    await vi.waitFor(async () => {
      expect(await w().assignedFor(ns, 'both')).toEqual([]);
      expect(w().scaleSetIdentities()).toEqual([]);
    }, { timeout: 20_000, interval: 100 });
    await waitForStates(ns, 'fed-only', ['Assigned']);
    const afterRemoval = countArm(await armRequests(w(), since));
    expect(afterRemoval.writes).toBe(2);
  });
});
