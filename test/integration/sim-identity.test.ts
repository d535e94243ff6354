/**
 * Real clients against the simulated Entra ID and IMDS: @azure/identity's ClientSecretCredential,
 * ClientCertificateCredential, ManagedIdentityCredential and DefaultAzureCredential get tokens whose
 * verified claims name exactly the right identity; IMDS refuses identities not on the node with its
 * real errors; the tokens are accepted by the simulated ARM. Each client scenario runs in its own
 * process (@azure/identity fixes its IMDS endpoint and token cache per process).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import type { JWTVerifyGetKey } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../src/lib/pki.ts';
import { imdsRoutes } from '../../src/sim/imds/index.ts';
import { startAzureSimulator, type AzureSimulator, type ImdsListener } from '../../src/sim/index.ts';
import type { UserAssignedIdentity, VirtualMachine, VirtualMachineScaleSet } from '../../src/sim/state/model.ts';
import { clientEnvironment, discoverSigningKeys, httpsGet, runNodeClient, tokenOf, verifiedClaims } from '../clients/harness.ts';

const SUB = '8c3f1a52-6d1e-4e0b-9a57-2b7f0c9d4e11';
const ARM_SCOPE = 'https://management.azure.com/.default';
const ARM_AUDIENCE = 'https://management.azure.com';

function identity(name: string, n: number, tenantId: string): UserAssignedIdentity {
  return {
    id: `/subscriptions/${SUB}/resourcegroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    name,
    subscriptionId: SUB,
    resourceGroup: 'rg-identities',
    location: 'westeurope',
    tags: {},
    clientId: `${n}${n}${n}${n}${n}${n}${n}${n}-c1c1-4c1c-8c1c-000000000000`,
    principalId: `${n}${n}${n}${n}${n}${n}${n}${n}-0b0b-4b0b-8b0b-000000000000`,
    tenantId,
  };
}

let sim: AzureSimulator;
let keys: JWTVerifyGetKey;
let workDir: string;
let vmImds: ImdsListener;
let vmssImds: ImdsListener;
let alpha: UserAssignedIdentity;
let beta: UserAssignedIdentity;
let gamma: UserAssignedIdentity;
const secretApp = { appId: '5ec2e7a0-1111-4111-8111-111111111111', objectId: '5ec2e7a0-0b0b-4b0b-8b0b-111111111111', secret: 'Sim~secret.value-1' };
const certApp = { appId: 'ce27a000-2222-4222-8222-222222222222', objectId: 'ce27a000-0b0b-4b0b-8b0b-222222222222' };
let certificatePath: string;
let caPath: string;

beforeAll(async () => {
  sim = await startAzureSimulator({ lroDurationMs: { vm: 50, vmss: 50 } });
  const tenantId = sim.tenantId;
  alpha = identity('alpha', 1, tenantId);
  beta = identity('beta', 2, tenantId);
  gamma = identity('gamma', 3, tenantId);
  sim.store.addSubscription(SUB);
  for (const item of [alpha, beta, gamma]) sim.store.putIdentity(item);

  const vm: VirtualMachine = {
    kind: 'vm',
    id: `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachines/vm-node-1`,
    name: 'vm-node-1',
    subscriptionId: SUB,
    resourceGroup: 'rg-nodes',
    location: 'westeurope',
    tags: {},
    vmSize: 'Standard_D2s_v3',
    provisioningState: 'Succeeded',
    vmId: '0f0f0f0f-0000-4000-8000-000000000001',
    identity: { type: 'UserAssigned', userAssignedIdentities: [alpha.id, beta.id] },
  };
  const vmss: VirtualMachineScaleSet = {
    kind: 'vmss',
    id: `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss`,
    name: 'aks-pool-vmss',
    subscriptionId: SUB,
    resourceGroup: 'rg-nodes',
    location: 'westeurope',
    tags: {},
    vmSize: 'Standard_D4s_v3',
    provisioningState: 'Succeeded',
    instances: [{ instanceId: '0', computerName: 'aks-pool-vmss000000', vmId: '0f0f0f0f-0000-4000-8000-000000000002' }],
    identity: { type: 'UserAssigned', userAssignedIdentities: [gamma.id] },
  };
  sim.store.putCompute(vm);
  sim.store.putCompute(vmss);

  const certificate = createSelfSignedCertificate('sim-identity cert app');
  sim.store.putServicePrincipal({ appId: secretApp.appId, objectId: secretApp.objectId, tenantId, displayName: 'secret app', secrets: [secretApp.secret], certificatesPem: [] });
  sim.store.putServicePrincipal({ appId: certApp.appId, objectId: certApp.objectId, tenantId, displayName: 'cert app', secrets: [], certificatesPem: [certificate.certPem] });

  workDir = await mkdtemp(path.join(tmpdir(), 'sim-identity-'));
  certificatePath = path.join(workDir, 'cert-app.pem');
  await writeFile(certificatePath, `${certificate.certPem}\n${certificate.keyPem}`, { mode: 0o600 });
  caPath = path.join(workDir, 'ca.pem');
  await writeFile(caPath, sim.caPem);

  vmImds = await sim.startImds('vm-node-1');
  vmssImds = await sim.startImds('aks-pool-vmss000000');
  keys = await discoverSigningKeys(sim.entraUrl, tenantId, sim.caPem);
});

afterAll(async () => {
  await sim.stop();
  await rm(workDir, { recursive: true, force: true });
});

const entraEnv = (): NodeJS.ProcessEnv => clientEnvironment({ NODE_EXTRA_CA_CERTS: caPath });
const imdsEnv = (imds: ImdsListener, extra: Record<string, string> = {}): NodeJS.ProcessEnv => clientEnvironment({ AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url, ...extra });

describe('Entra ID over HTTPS with @azure/identity', () => {
  it('ClientSecretCredential gets a token naming the app, its tenant and the requested audience', async () => {
    const result = await runNodeClient(
      'entra-token.ts',
      { credential: 'client-secret', authorityHost: sim.entraUrl, tenantId: sim.tenantId, clientId: secretApp.appId, clientSecret: secretApp.secret, scope: ARM_SCOPE },
      entraEnv(),
    );
    const claims = await verifiedClaims(tokenOf(result), keys);
    expect(claims).toMatchObject({
      aud: ARM_AUDIENCE,
      iss: `https://sts.windows.net/${sim.tenantId}/`,
      tid: sim.tenantId,
      appid: secretApp.appId,
      appidacr: '1',
      oid: secretApp.objectId,
      sub: secretApp.objectId,
      idtyp: 'app',
    });
    expect(claims['xms_mirid']).toBeUndefined();
  });

  it('ClientCertificateCredential signs an assertion the simulator verifies against the registered certificate', async () => {
    const result = await runNodeClient(
      'entra-token.ts',
      { credential: 'client-certificate', authorityHost: sim.entraUrl, tenantId: sim.tenantId, clientId: certApp.appId, certificatePath, scope: ARM_SCOPE },
      entraEnv(),
    );
    expect(await verifiedClaims(tokenOf(result), keys)).toMatchObject({ aud: ARM_AUDIENCE, tid: sim.tenantId, appid: certApp.appId, appidacr: '2', oid: certApp.objectId });
  });

  // @azure/identity 4.x turns a 401 invalid_client into AuthenticationRequiredError (azure-protocols.md §5.3).
  it('a wrong secret is refused with AADSTS7000215, surfaced by the SDK as an authentication error', async () => {
    const result = await runNodeClient(
      'entra-token.ts',
      { credential: 'client-secret', authorityHost: sim.entraUrl, tenantId: sim.tenantId, clientId: secretApp.appId, clientSecret: 'not-the-secret', scope: ARM_SCOPE },
      entraEnv(),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errorName).toBe('AuthenticationRequiredError');
    expect(result.message).toContain('invalid_client');
    expect(result.message).toContain('AADSTS7000215');
    expect(result.message).toContain('Invalid client secret provided');
  });
});

describe('IMDS per node with @azure/identity ManagedIdentityCredential', () => {
  it.each([
    ['clientId', () => ({ clientId: alpha.clientId }), () => alpha],
    ['resourceId', () => ({ resourceId: beta.id }), () => beta],
    ['objectId', () => ({ objectId: alpha.principalId }), () => alpha],
  ])('by %s: the token names that identity', async (_selector, selector, expected) => {
    const result = await runNodeClient('managed-identity-token.ts', { credential: 'managed-identity', identity: selector(), scope: ARM_SCOPE }, imdsEnv(vmImds));
    const want = expected();
    expect(await verifiedClaims(tokenOf(result), keys)).toMatchObject({
      aud: ARM_AUDIENCE,
      tid: sim.tenantId,
      appid: want.clientId,
      appidacr: '2',
      oid: want.principalId,
      sub: want.principalId,
      xms_mirid: want.id,
      xms_az_rid: `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachines/vm-node-1`,
    });
  });

  it('an identity that exists but is not on this VM is refused with IMDS’s "Identity not found"', async () => {
    const result = await runNodeClient('managed-identity-token.ts', { credential: 'managed-identity', identity: { clientId: gamma.clientId }, scope: ARM_SCOPE }, imdsEnv(vmImds));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errorName).toBe('CredentialUnavailableError');
    expect(result.message).toContain('Identity not found');
  });

  it('several identities on the VM and none named: the "Multiple user assigned identities" error', async () => {
    const result = await runNodeClient('managed-identity-token.ts', { credential: 'managed-identity', scope: ARM_SCOPE }, imdsEnv(vmImds));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message).toContain('Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request');
  });

  it('a scale-set node hands out the scale set’s identity, and DefaultAzureCredential (AZURE_CLIENT_ID) finds it through IMDS', async () => {
    const result = await runNodeClient('managed-identity-token.ts', { credential: 'default', scope: ARM_SCOPE }, imdsEnv(vmssImds, { AZURE_CLIENT_ID: gamma.clientId }));
    expect(await verifiedClaims(tokenOf(result), keys)).toMatchObject({
      appid: gamma.clientId,
      oid: gamma.principalId,
      xms_mirid: gamma.id,
      xms_az_rid: `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss`,
    });
    // The VM's identities are not the scale set's.
    const other = await runNodeClient('managed-identity-token.ts', { credential: 'managed-identity', identity: { clientId: alpha.clientId }, scope: ARM_SCOPE }, imdsEnv(vmssImds));
    expect(other.ok).toBe(false);
  });
});

describe('tokens are accepted by the simulated ARM', () => {
  it.each([
    ['a managed identity (IMDS)', () => runNodeClient('managed-identity-token.ts', { credential: 'managed-identity', identity: { clientId: beta.clientId }, scope: ARM_SCOPE }, imdsEnv(vmImds))],
    [
      'a service principal (Entra ID)',
      () =>
        runNodeClient(
          'entra-token.ts',
          { credential: 'client-secret', authorityHost: sim.entraUrl, tenantId: sim.tenantId, clientId: secretApp.appId, clientSecret: secretApp.secret, scope: ARM_SCOPE },
          entraEnv(),
        ),
    ],
  ])('GET /subscriptions with the token of %s', async (_who, client) => {
    const token = tokenOf(await client());
    const response = await httpsGet(`${sim.armUrl}/subscriptions?api-version=2022-12-01`, sim.caPem, { authorization: `Bearer ${token}` });
    expect(response.status).toBe(200);
    expect(response.body).toContain(SUB);
    const refused = await httpsGet(`${sim.armUrl}/subscriptions?api-version=2022-12-01`, sim.caPem, { authorization: `Bearer ${token.slice(0, -4)}AAAA` });
    expect(refused.status).toBe(401);
  });
});

describe('IMDS limits on real sockets', () => {
  it('the sixth of six concurrent identity requests gets 429 when at most 5 may run (slow IMDS)', async () => {
    // The simulator's own IMDS, composed with a slow stage after admission so that requests overlap.
    const app = Fastify();
    app.addHook('preHandler', async () => sleep(300));
    await app.register(imdsRoutes, { store: sim.store, issuer: sim.issuer, nodeName: 'vm-node-1', limits: { requestsPerSecond: 20, maxConcurrent: 5 }, logger: pino({ level: 'silent' }) });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const responses = await Promise.all(
        Array.from({ length: 6 }, () =>
          fetch(`${url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(ARM_AUDIENCE)}&client_id=${alpha.clientId}`, { headers: { Metadata: 'true' } }),
        ),
      );
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      const refused = responses.find((response) => response.status === 429);
      expect(await refused?.json()).toMatchObject({ error: 'too_many_requests' });
    } finally {
      await app.close();
    }
  });

  it('the simulator’s IMDS throttles by default: a burst beyond 20 requests/s gets 429s', async () => {
    const url = `${vmImds.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&client_id=${alpha.clientId}`;
    await sleep(1000); // a full bucket, whatever earlier tests asked
    const statuses: number[] = [];
    // Sequential, so only the rate limit applies; 30 requests well inside one second.
    for (let i = 0; i < 30; i += 1) statuses.push((await fetch(url, { headers: { Metadata: 'true' } })).status);
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(0);
    expect(statuses.slice(0, 20).every((status) => status === 200)).toBe(true);
    await sleep(1100); // refill before other tests use this node
  });
});
