import { describe, expect, it, vi } from 'vitest';
import { rawRequest } from '../../../src/kube/raw-client.ts';
import { useMicWorld } from '../../support/mic-suite.ts';

// MIC as a real process against a real API server and the simulated ARM: pods get their identities
// on their VM or scale set, AAIs follow upstream's life cycle, and identities leave only when unused.

const suite = useMicWorld({ scaleSetNodes: 3, vmNodes: 1 });
const w = suite.world;

async function waitForState(namespace: string, pod: string, state: string, count = 1): Promise<void> {
  await vi.waitFor(async () => {
    const assigned = await w().assignedFor(namespace, pod);
    expect(assigned.map((entry) => entry.status?.status)).toEqual(Array.from({ length: count }, () => state));
  }, { timeout: 20_000, interval: 100 });
}

describe('MIC assigns identities', () => {
  it('a pod on a VMSS node: AAI Created → Assigned, identity on the scale set, upstream wire format', async () => {
    const ns = await w().namespace('assign-vmss');
    const azure = await w().azureIdentity('reader');
    await w().createIdentity(ns, 'reader', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await w().createBinding(ns, 'reader-binding', 'reader', 'reader');
    await w().createPod(ns, 'app', w().scaleSetNodes[0]!, 'reader');

    await waitForState(ns, 'app', 'Assigned');
    expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());
    const [assigned] = await w().assignedFor(ns, 'app');
    expect(assigned?.metadata).toMatchObject({ name: `app-${ns}-reader`, namespace: 'default', labels: { nodename: w().scaleSetNodes[0] }, finalizers: ['azureassignedidentity.finalizers.aadpodidentity.k8s.io'] });
    expect(assigned?.spec).toMatchObject({ pod: 'app', podNamespace: ns, nodename: w().scaleSetNodes[0] });
    expect(assigned?.spec.azureIdentityRef?.spec.resourceID).toBe(azure.id);
    expect(assigned?.spec.azureBindingRef?.spec.selector).toBe('reader');
  });

  it('a pod on a standalone VM gets the identity on that VM only', async () => {
    const ns = await w().namespace('assign-vm');
    const azure = await w().azureIdentity('vm-reader');
    await w().createIdentity(ns, 'vm-reader', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await w().createBinding(ns, 'b', 'vm-reader', 'vm-reader');
    await w().createPod(ns, 'app', w().vmNodes[0]!, 'vm-reader');
    await waitForState(ns, 'app', 'Assigned');
    expect(w().vmIdentities(w().vmNodes[0]!)).toEqual([azure.id.toLowerCase()]);
    expect(w().scaleSetIdentities()).not.toContain(azure.id.toLowerCase());
  });

  it('one identity shared by pods on several nodes of a scale set stays until the last pod is gone', async () => {
    const ns = await w().namespace('shared');
    const azure = await w().azureIdentity('shared');
    await w().createIdentity(ns, 'shared', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await w().createBinding(ns, 'b', 'shared', 'shared');
    await w().createPod(ns, 'a', w().scaleSetNodes[0]!, 'shared');
    await w().createPod(ns, 'b', w().scaleSetNodes[1]!, 'shared');
    await waitForState(ns, 'a', 'Assigned');
    await waitForState(ns, 'b', 'Assigned');

    await w().deletePod(ns, 'a');
    await vi.waitFor(async () => { expect(await w().assignedFor(ns, 'a')).toEqual([]); }, { timeout: 20_000, interval: 100 });
    // Pod b on another node of the same scale set still needs it.
    expect(w().scaleSetIdentities()).toContain(azure.id.toLowerCase());

    await w().deletePod(ns, 'b');
    await vi.waitFor(async () => {
      expect(await w().assignedFor(ns, 'b')).toEqual([]);
      expect(w().scaleSetIdentities()).not.toContain(azure.id.toLowerCase());
    }, { timeout: 20_000, interval: 100 });
  });

  it('records upstream type-upgrade status in its ConfigMap (so a rolled-back upstream MIC does not rewrite objects)', async () => {
    const configMap = (await rawRequest(w().kc, { method: 'GET', path: '/api/v1/namespaces/kube-system/configmaps/aad-pod-identity-config' })) as { data?: Record<string, string> };
    expect(configMap.data?.['type-upgrade-status']).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('service-principal identities get AAIs (Assigned at once) and no ARM call', async () => {
    const ns = await w().namespace('sp');
    const before = await w().armWrites();
    await w().createIdentity(ns, 'sp', { type: 1, clientID: '33333333-3333-3333-3333-333333333333', tenantID: w().sim.tenantId, clientPassword: { name: 'sp', namespace: ns } });
    await w().createBinding(ns, 'b', 'sp', 'sp');
    await w().createPod(ns, 'app', w().scaleSetNodes[2]!, 'sp');
    await waitForState(ns, 'app', 'Assigned');
    expect(await w().armWrites()).toBe(before);
  });
});
