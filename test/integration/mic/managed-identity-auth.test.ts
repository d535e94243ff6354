import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { MicWorld, NODE_GROUP, SUBSCRIPTION, type MicProcess } from '../../support/mic-world.ts';

// MIC authenticating to ARM with the node's managed identity, as on AKS (azure.json
// `useManagedIdentityExtension: true` with the cluster identity's client ID): @azure/identity's
// ManagedIdentityCredential gets MIC's token from the node's IMDS, and ARM (with RBAC enforced) accepts
// it because that identity holds the roles. The cluster identity itself is never removed.

let world: MicWorld | undefined;
let mic: MicProcess | undefined;
let imdsClose: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const w = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 0, enforceRbac: true });
  world = w;
  // The cluster ("kubelet") identity, on the scale set where MIC runs, with the roles MIC needs.
  const cluster = await w.azureIdentity('cluster-identity');
  w.sim.store.getCompute(w.scaleSet.id)?.identity.userAssignedIdentities.push(cluster.id);
  const vmss = w.sim.store.getCompute(w.scaleSet.id);
  if (vmss !== undefined) vmss.identity.type = 'UserAssigned';
  const scope = (group: string): string => `/subscriptions/${SUBSCRIPTION}/resourceGroups/${group}`;
  await w.admin.seedRoleAssignment({ scope: scope(NODE_GROUP), role: 'Virtual Machine Contributor', principalId: cluster.principalId });
  await w.admin.seedRoleAssignment({ scope: scope('identities'), role: 'Managed Identity Operator', principalId: cluster.principalId });
  const imds = await w.sim.startImds(w.scaleSetNodes[0]!);
  imdsClose = () => imds.close();

  const config = JSON.parse(readFileSync(w.azureJsonPath, 'utf8')) as Record<string, unknown>;
  const managed = { ...config, useManagedIdentityExtension: true, userAssignedIdentityID: cluster.clientId, aadClientId: 'msi', aadClientSecret: 'msi' };
  const file = path.join(w.dir, 'azure-msi.json');
  writeFileSync(file, JSON.stringify(managed));
  mic = await w.startMic('mic-msi', [`--cloudconfig=${file}`], { AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url });
  const started = mic;
  await vi.waitFor(async () => { expect(await w.health(started)).toBe('Active'); }, { timeout: 30_000, interval: 200 });
}, 120_000);

afterAll(async () => {
  if (mic !== undefined && process.env['MIC_TEST_LOGS'] === '1') console.log(mic.output());
  await imdsClose?.();
  await world?.stop();
});

it('assigns and removes identities with a token from the node IMDS, and never removes the cluster identity', async () => {
  const w = world!;
  const ns = await w.namespace('msi-auth');
  const app = await w.azureIdentity('app-identity');
  await w.createIdentity(ns, 'app', { type: 0, resourceID: app.id, clientID: app.clientId });
  await w.createBinding(ns, 'app', 'app', 'app');
  await w.createPod(ns, 'p', w.scaleSetNodes[1]!, 'app');
  await vi.waitFor(async () => {
    expect((await w.assignedFor(ns, 'p')).map((entry) => entry.status?.status)).toEqual(['Assigned']);
  }, { timeout: 20_000, interval: 100 });
  expect(w.scaleSetIdentities()).toContain(app.id.toLowerCase());

  // MIC's ARM calls were made with the cluster identity's token, fetched from IMDS.
  const imdsCalls = await w.admin.requests({ service: `imds:${w.scaleSetNodes[0]!}` });
  expect(imdsCalls.entries.some((entry) => entry.path.toLowerCase().includes('/metadata/identity/oauth2/token') && entry.status === 200)).toBe(true);

  await w.deletePod(ns, 'p');
  await vi.waitFor(async () => { expect(w.scaleSetIdentities()).not.toContain(app.id.toLowerCase()); }, { timeout: 20_000, interval: 100 });
  expect(w.scaleSetIdentities()).toContain(w.sim.store.listIdentities().find((entry) => entry.name === 'cluster-identity')?.id.toLowerCase());
});
