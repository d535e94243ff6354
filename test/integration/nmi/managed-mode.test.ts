/**
 * NMI in managed mode (no MIC, identities assigned to the scale set out of band): identities are
 * chosen from the bindings of the pod's own namespace, never another namespace's; an identity that is
 * not on the VM gets IMDS's refusal, passed through as 403. A pod that has just arrived waits for its
 * binding to reach NMI (a binding created just before its pod can arrive just after it).
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MicWorld } from '../../support/mic-world.ts';
import { startNmi, tokenRequest, type NmiProcess } from '../../support/nmi-world.ts';

const ARM = 'https://management.azure.com';
let world: MicWorld;
let nmi: NmiProcess;
let node: string;

async function assignToScaleSet(resourceId: string): Promise<void> {
  const scaleSet = world.sim.store.getCompute(world.scaleSet.id);
  if (scaleSet === undefined) throw new Error('scale set missing');
  world.sim.store.putCompute({ ...scaleSet, identity: { ...scaleSet.identity, type: 'UserAssigned', userAssignedIdentities: [...scaleSet.identity.userAssignedIdentities, resourceId] } });
}

beforeAll(async () => {
  world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0 });
  node = world.scaleSetNodes[0] ?? '';
  nmi = await startNmi(world, node, ['--operation-mode=managed', '--forceNamespaced']);
}, 120_000);

afterAll(async () => {
  if (process.env['NMI_TEST_LOGS'] === '1') console.log(nmi.output());
  await nmi.stop();
  await world.stop();
});

describe('managed mode', () => {
  it('serves the identity bound in the pod’s namespace at once, and refuses pods of other namespaces', async () => {
    await world.namespace('team-a');
    await world.namespace('team-b');
    const azure = await world.azureIdentity('managed-a');
    await assignToScaleSet(azure.id);
    await world.createIdentity('team-a', 'a', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world.createBinding('team-a', 'a-binding', 'a', 'web');
    await world.createPod('team-a', 'web', node, 'web', { ip: '127.11.0.1' });
    await world.createPod('team-b', 'web', node, 'web', { ip: '127.11.0.2' });

    const own = await tokenRequest(nmi, '127.11.0.1', { resource: ARM });
    expect(own.status, own.text).toBe(200);
    expect(decodeJwt(String(own.json()['access_token']))['appid']).toBe(azure.clientId);
    expect(own.json()['resource']).toBe(ARM);
    // No AzureAssignedIdentity is involved: managed mode reads bindings.
    expect(await world.assignedIdentities()).toEqual([]);

    const other = await tokenRequest(nmi, '127.11.0.2', { resource: ARM, client_id: azure.clientId });
    expect(other.status).toBe(404);
    expect(other.json()).not.toHaveProperty('access_token');
  });

  it('holds a pod that has just arrived until its binding reaches NMI (separate watches), then serves it', async () => {
    await world.namespace('team-d');
    const azure = await world.azureIdentity('managed-d');
    await assignToScaleSet(azure.id);
    await world.createPod('team-d', 'api', node, 'api', { ip: '127.11.0.4' });
    const pending = tokenRequest(nmi, '127.11.0.4', { resource: ARM });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await world.createIdentity('team-d', 'd', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world.createBinding('team-d', 'd-binding', 'd', 'api');
    const response = await pending;
    expect(response.status, response.text).toBe(200);
    expect(decodeJwt(String(response.json()['access_token']))['appid']).toBe(azure.clientId);
  });

  it('passes IMDS’s refusal through (403) when the bound identity is not on the VM', async () => {
    await world.namespace('team-c');
    const azure = await world.azureIdentity('not-assigned');
    await world.createIdentity('team-c', 'c', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world.createBinding('team-c', 'c-binding', 'c', 'job');
    await world.createPod('team-c', 'job', node, 'job', { ip: '127.11.0.3' });
    const response = await tokenRequest(nmi, '127.11.0.3', { resource: ARM });
    expect(response.status, response.text).toBe(403);
    expect(String(response.json()['error_description'])).toContain('Identity not found');
  });
});
