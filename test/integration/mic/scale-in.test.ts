import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { MicWorld } from '../../support/mic-world.ts';

// Scale-in: a scale-set node is deleted (and then its pods, as pod GC does). The AAIs recorded the
// scale set they were assigned to, so MIC still removes the identity from the scale set when nothing
// else needs it — instead of deleting the AAIs and leaving the identity there forever (upstream).

let world: MicWorld | undefined;

beforeAll(async () => {
  world = await MicWorld.start({ scaleSetNodes: 3, vmNodes: 0 });
  const mic = await world.startMic('mic-scale-in');
  const started = world;
  await vi.waitFor(async () => { expect(await started.health(mic)).toBe('Active'); }, { timeout: 30_000, interval: 200 });
}, 120_000);

afterAll(async () => {
  await world?.stop();
});

it('removes the identity from the scale set after its node and pod are gone, and keeps identities still needed', async () => {
  const w = world!;
  const ns = await w.namespace('scale-in');
  const lonely = await w.azureIdentity('lonely');
  const shared = await w.azureIdentity('shared');
  for (const [name, azure] of [['lonely', lonely], ['shared', shared]] as const) {
    await w.createIdentity(ns, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await w.createBinding(ns, name, name, name);
  }
  const doomed = w.scaleSetNodes[2]!;
  await w.createPod(ns, 'on-doomed', doomed, 'lonely');
  await w.createPod(ns, 'shared-doomed', doomed, 'shared');
  await w.createPod(ns, 'shared-alive', w.scaleSetNodes[0]!, 'shared');
  await vi.waitFor(async () => {
    const states = (await w.assignedIdentities()).filter((entry) => entry.spec.podNamespace === ns).map((entry) => entry.status?.status);
    expect(states).toEqual(['Assigned', 'Assigned', 'Assigned']);
  }, { timeout: 20_000, interval: 100 });
  const [recorded] = await w.assignedFor(ns, 'on-doomed');
  expect(recorded?.metadata.annotations?.['aadpodidentity.k8s.io/target']).toMatch(/virtualMachineScaleSets\/aks-pool1-12345678-vmss$/);

  await w.deleteNode(doomed);
  await w.deletePod(ns, 'on-doomed');
  await w.deletePod(ns, 'shared-doomed');
  await vi.waitFor(async () => {
    expect(await w.assignedFor(ns, 'on-doomed')).toEqual([]);
    expect(await w.assignedFor(ns, 'shared-doomed')).toEqual([]);
    expect(w.scaleSetIdentities()).not.toContain(lonely.id.toLowerCase());
  }, { timeout: 20_000, interval: 100 });
  // The pod on a live node still needs the shared identity.
  expect(w.scaleSetIdentities()).toContain(shared.id.toLowerCase());
  expect((await w.assignedFor(ns, 'shared-alive'))[0]?.status?.status).toBe('Assigned');
});
