import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MicWorld, type MicProcess } from '../../support/mic-world.ts';

// MIC as a real process against a real API server and the simulated ARM: pods get their identities
// on their VM or scale set, AAIs follow upstream's life cycle, and identities leave only when unused.

let world: MicWorld;
let mic: MicProcess;

beforeAll(async () => {
  world = await MicWorld.start({ scaleSetNodes: 3, vmNodes: 1 });
  mic = await world.startMic('mic-0');
  await vi.waitFor(async () => { expect(await world.health(mic)).toBe('Active'); }, { timeout: 30_000, interval: 200 });
}, 120_000);

afterAll(async () => {
  if (mic !== undefined && process.env['MIC_TEST_LOGS'] === '1') console.log(mic.output());
  await world?.stop();
});

async function waitForState(namespace: string, pod: string, state: string, count = 1): Promise<void> {
  await vi.waitFor(async () => {
    const assigned = await world.assignedFor(namespace, pod);
    expect(assigned.map((entry) => entry.status?.status)).toEqual(Array.from({ length: count }, () => state));
  }, { timeout: 20_000, interval: 100 });
}

describe('MIC assigns identities', () => {
  it('a pod on a VMSS node: AAI Created → Assigned, identity on the scale set, upstream wire format', async () => {
    const ns = await world.namespace('assign-vmss');
    const azure = await world.azureIdentity('reader');
    await world.createIdentity(ns, 'reader', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world.createBinding(ns, 'reader-binding', 'reader', 'reader');
    await world.createPod(ns, 'app', world.scaleSetNodes[0]!, 'reader');

    await waitForState(ns, 'app', 'Assigned');
    expect(world.scaleSetIdentities()).toContain(azure.id.toLowerCase());
    const [assigned] = await world.assignedFor(ns, 'app');
    expect(assigned?.metadata).toMatchObject({ name: `app-${ns}-reader`, namespace: 'default', labels: { nodename: world.scaleSetNodes[0] }, finalizers: ['azureassignedidentity.finalizers.aadpodidentity.k8s.io'] });
    expect(assigned?.spec).toMatchObject({ pod: 'app', podNamespace: ns, nodename: world.scaleSetNodes[0] });
    expect(assigned?.spec.azureIdentityRef?.spec.resourceID).toBe(azure.id);
    expect(assigned?.spec.azureBindingRef?.spec.selector).toBe('reader');
  });

  it('a pod on a standalone VM gets the identity on that VM only', async () => {
    const ns = await world.namespace('assign-vm');
    const azure = await world.azureIdentity('vm-reader');
    await world.createIdentity(ns, 'vm-reader', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world.createBinding(ns, 'b', 'vm-reader', 'vm-reader');
    await world.createPod(ns, 'app', world.vmNodes[0]!, 'vm-reader');
    await waitForState(ns, 'app', 'Assigned');
    expect(world.vmIdentities(world.vmNodes[0]!)).toEqual([azure.id.toLowerCase()]);
    expect(world.scaleSetIdentities()).not.toContain(azure.id.toLowerCase());
  });

  it('one identity shared by pods on several nodes of a scale set stays until the last pod is gone', async () => {
    const ns = await world.namespace('shared');
    const azure = await world.azureIdentity('shared');
    await world.createIdentity(ns, 'shared', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world.createBinding(ns, 'b', 'shared', 'shared');
    await world.createPod(ns, 'a', world.scaleSetNodes[0]!, 'shared');
    await world.createPod(ns, 'b', world.scaleSetNodes[1]!, 'shared');
    await waitForState(ns, 'a', 'Assigned');
    await waitForState(ns, 'b', 'Assigned');

    await world.deletePod(ns, 'a');
    await vi.waitFor(async () => { expect(await world.assignedFor(ns, 'a')).toEqual([]); }, { timeout: 20_000, interval: 100 });
    // Pod b on another node of the same scale set still needs it.
    expect(world.scaleSetIdentities()).toContain(azure.id.toLowerCase());

    await world.deletePod(ns, 'b');
    await vi.waitFor(async () => {
      expect(await world.assignedFor(ns, 'b')).toEqual([]);
      expect(world.scaleSetIdentities()).not.toContain(azure.id.toLowerCase());
    }, { timeout: 20_000, interval: 100 });
  });

  it('service-principal identities get AAIs (Assigned at once) and no ARM call', async () => {
    const ns = await world.namespace('sp');
    const before = await world.armWrites();
    await world.createIdentity(ns, 'sp', { type: 1, clientID: '33333333-3333-3333-3333-333333333333', tenantID: world.sim.tenantId, clientPassword: { name: 'sp', namespace: ns } });
    await world.createBinding(ns, 'b', 'sp', 'sp');
    await world.createPod(ns, 'app', world.scaleSetNodes[2]!, 'sp');
    await waitForState(ns, 'app', 'Assigned');
    expect(await world.armWrites()).toBe(before);
  });
});
