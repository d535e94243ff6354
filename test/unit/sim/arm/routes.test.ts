import fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../support/manual-clock.ts';
import { createArmRoutes, ROLE_IDS, type ArmDeps } from '../../../../src/sim/arm/index.ts';
import type { LroKind } from '../../../../src/sim/arm/operations.ts';
import { LroPollLog } from '../../../../src/sim/arm/poll-log.ts';
import type { SimStateData } from '../../../../src/sim/state/model.ts';
import { SimStore } from '../../../../src/sim/state/store.ts';
import { TokenIssuer } from '../../../../src/sim/tokens/issuer.ts';

const TENANT = '72f988bf-0000-4000-8000-000000000000';
const SUB = '00000000-0000-4000-8000-000000000001';
const RG = `/subscriptions/${SUB}/resourceGroups/rg-nodes`;
const IDS_RG = `/subscriptions/${SUB}/resourceGroups/rg-ids`;
const VM = `${RG}/providers/Microsoft.Compute/virtualMachines/node-1`;
const VMSS = `${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss`;
const uami = (name: string): string => `${IDS_RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const API = 'api-version=2026-04-01';
const PUBLIC_URL = 'https://arm.example:8443';
const MIC = { oid: 'aaaaaaaa-0000-4000-8000-00000000000a', appid: 'bbbbbbbb-0000-4000-8000-00000000000b' };

function state(): Partial<SimStateData> {
  const identity = (name: string, n: number) => ({
    id: uami(name),
    name,
    subscriptionId: SUB,
    resourceGroup: 'rg-ids',
    location: 'westeurope',
    tags: {},
    clientId: `c0000000-0000-4000-8000-00000000000${n}`,
    principalId: `p0000000-0000-4000-8000-00000000000${n}`,
    tenantId: TENANT,
  });
  return {
    tenantId: TENANT,
    subscriptions: [SUB],
    resourceGroups: [RG, IDS_RG],
    identities: [identity('app-a', 1), identity('app-b', 2)],
    virtualMachines: [
      {
        kind: 'vm',
        id: VM,
        name: 'node-1',
        subscriptionId: SUB,
        resourceGroup: 'rg-nodes',
        location: 'westeurope',
        tags: {},
        vmSize: 'Standard_D2s_v3',
        provisioningState: 'Succeeded',
        vmId: '11111111-0000-4000-8000-000000000000',
        identity: { type: 'SystemAssigned', userAssignedIdentities: [], systemAssigned: { principalId: 'sys-p', clientId: 'sys-c', tenantId: TENANT } },
      },
    ],
    scaleSets: [
      {
        kind: 'vmss',
        id: VMSS,
        name: 'aks-pool-vmss',
        subscriptionId: SUB,
        resourceGroup: 'rg-nodes',
        location: 'westeurope',
        tags: {},
        vmSize: 'Standard_D2s_v3',
        provisioningState: 'Succeeded',
        identity: { type: 'None', userAssignedIdentities: [] },
        instances: [{ instanceId: '0', computerName: 'aks-pool-vmss000000', vmId: '22222222-0000-4000-8000-000000000000' }],
      },
    ],
    servicePrincipals: [{ appId: MIC.appid, objectId: MIC.oid, tenantId: TENANT, displayName: 'mic', secrets: [], certificatesPem: [] }],
  };
}

let clock: ManualClock;
let issuer: TokenIssuer;
let store: SimStore;
let deps: ArmDeps & { lroRetryAfterSeconds: Record<LroKind, number> };
let pollLog: LroPollLog;
let app: FastifyInstance;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 5, 15, 8, 0, 0));
  issuer = TokenIssuer.create(() => clock.now());
  store = new SimStore(TENANT);
  store.load(state());
  pollLog = new LroPollLog();
  deps = {
    store,
    issuer,
    lroDurationMs: { vm: 1_000, vmss: 5_000 },
    lroRetryAfterSeconds: { vmUpdate: 1, vmssUpdate: 1, vmDelete: 1, vmssDelete: 1 },
    pollLog,
    enforceRbac: false,
    publicUrl: () => PUBLIC_URL,
    endpoints: () => ['https://10.200.0.1:8443'],
    logger: pino({ level: 'silent' }),
  };
  app = fastify();
  await app.register(createArmRoutes({ clock }), deps);
  await app.ready();
});

afterEach(async () => {
  await app.close();
});

async function token(overrides: Record<string, string> = {}, lifetimeSeconds = 3600): Promise<string> {
  const claims = { aud: 'https://management.azure.com/', iss: `https://sts.windows.net/${TENANT}/`, tid: TENANT, oid: MIC.oid, sub: MIC.oid, appid: MIC.appid, ...overrides };
  return (await issuer.sign(claims, lifetimeSeconds)).token;
}

async function call(method: 'GET' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, bearer?: string) {
  const authorization = `Bearer ${bearer ?? (await token())}`;
  // Clients call the public URL's host (operation URLs are built on the Host header).
  const response = await app.inject({ method, url, headers: { authorization, host: new URL(PUBLIC_URL).host }, ...(body !== undefined ? { payload: body as object } : {}) });
  return { status: response.statusCode, headers: response.headers, body: response.body === '' ? undefined : response.json<Record<string, unknown>>() };
}

/** Path of an absolute `Azure-AsyncOperation` URL, for inject(). */
function pollPath(header: unknown): string {
  if (typeof header !== 'string') throw new Error('no Azure-AsyncOperation header');
  expect(header.startsWith(`${PUBLIC_URL}/subscriptions/${SUB}/providers/Microsoft.Compute/locations/westeurope/operations/`)).toBe(true);
  return header.slice(PUBLIC_URL.length);
}

const errorOf = (body: unknown) => (body as { error: { code: string; message: string } }).error;

describe('authentication', () => {
  const vmUrl = `${VM}?${API}`;

  it('answers 401 AuthenticationFailed with a challenge when the header is missing', async () => {
    const response = await app.inject({ method: 'GET', url: vmUrl });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: { code: 'AuthenticationFailed', message: "Authentication failed. The 'Authorization' header is missing." } });
    expect(response.headers['www-authenticate']).toMatch(/^Bearer authorization_uri="https:\/\/login\.windows\.net\/", error="invalid_token"/);
  });

  it('refuses a malformed header, a foreign token, an expired token, a wrong audience and a wrong tenant', async () => {
    const basic = await app.inject({ method: 'GET', url: vmUrl, headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(errorOf(basic.json()).code).toBe('AuthenticationFailedInvalidHeader');

    const foreign = await TokenIssuer.create(() => clock.now()).sign({ aud: 'https://management.azure.com', iss: 'x', tid: TENANT, oid: 'o', sub: 'o', appid: 'a' }, 600);
    expect(errorOf((await call('GET', vmUrl, undefined, foreign.token)).body)).toEqual({ code: 'InvalidAuthenticationToken', message: 'The access token is invalid.' });

    const shortLived = await token({}, 60);
    await clock.advance(3_600_000);
    expect(errorOf((await call('GET', vmUrl, undefined, shortLived)).body)).toEqual({
      code: 'ExpiredAuthenticationToken',
      message: "The access token expiry UTC time '6/15/2026 8:01:00 AM' is earlier than current UTC time '6/15/2026 9:00:00 AM'.",
    });

    const graph = await call('GET', vmUrl, undefined, await token({ aud: 'https://graph.microsoft.com' }));
    expect(graph.status).toBe(401);
    expect(errorOf(graph.body)).toEqual({
      code: 'InvalidAuthenticationTokenAudience',
      message:
        "The access token has been obtained for wrong audience or resource 'https://graph.microsoft.com'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com','https://arm.example:8443/','https://arm.example:8443','https://10.200.0.1:8443/','https://10.200.0.1:8443'.",
    });

    expect(errorOf((await call('GET', vmUrl, undefined, await token({ tid: 'other-tenant' }))).body).code).toBe('InvalidAuthenticationTokenTenant');
  });

  it.each(['https://management.azure.com', 'https://management.azure.com/', 'https://management.core.windows.net/'])('accepts the audience %s', async (aud) => {
    expect((await call('GET', vmUrl, undefined, await token({ aud }))).status).toBe(200);
  });

  // A private cloud's ARM (Azure Stack) accepts its own endpoint: go-autorest asks for exactly that resource.
  it.each([`${PUBLIC_URL}/`, PUBLIC_URL, 'https://10.200.0.1:8443/', 'https://10.200.0.1:8443'])('accepts its own endpoint %s as the audience', async (aud) => {
    expect((await call('GET', vmUrl, undefined, await token({ aud }))).status).toBe(200);
  });

  it.each(['https://arm.example:9443/', 'https://arm.example/', 'https://10.200.0.2:8443/', `${PUBLIC_URL}/subscriptions`])('refuses another endpoint %s with InvalidAuthenticationTokenAudience', async (aud) => {
    const response = await call('GET', vmUrl, undefined, await token({ aud }));
    expect(response.status).toBe(401);
    expect(errorOf(response.body).code).toBe('InvalidAuthenticationTokenAudience');
    expect(errorOf(response.body).message).toContain(`wrong audience or resource '${aud}'`);
    expect(response.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  });
});

describe('request handling', () => {
  it('needs an api-version but accepts any', async () => {
    const missing = await call('GET', VM);
    expect(missing.status).toBe(400);
    expect(errorOf(missing.body)).toEqual({ code: 'MissingApiVersionParameter', message: 'The api-version query parameter (?api-version=) is required for all requests.' });
    expect((await call('GET', `${VM}?api-version=1999-01-01-preview`)).status).toBe(200);
  });

  it('matches paths case-insensitively', async () => {
    const response = await call('GET', `${VM.toLowerCase().replace('node-1', 'NODE-1')}?${API}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: VM, name: 'node-1' });
  });

  it('adds request IDs, echoes the client request ID and counts subscription reads and writes', async () => {
    const authorization = `Bearer ${await token()}`;
    const first = await app.inject({ method: 'GET', url: `${VM}?${API}`, headers: { authorization, 'x-ms-client-request-id': 'client-1' } });
    const second = await app.inject({ method: 'GET', url: `${VM}?${API}`, headers: { authorization } });
    expect(first.headers['x-ms-client-request-id']).toBe('client-1');
    expect(first.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.headers['x-ms-correlation-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(first.headers['x-ms-ratelimit-remaining-subscription-reads'])).toBe(Number(second.headers['x-ms-ratelimit-remaining-subscription-reads']) + 1);
    const write = await call('PATCH', `${VM}?${API}`, { tags: { a: 'b' } });
    expect(write.headers['x-ms-ratelimit-remaining-subscription-writes']).toBe('1199');
  });

  it('answers ARM’s 404s for unknown resources, groups, subscriptions and paths', async () => {
    expect(errorOf((await call('GET', `${RG}/providers/Microsoft.Compute/virtualMachines/nope?${API}`)).body)).toEqual({
      code: 'ResourceNotFound',
      message: "The Resource 'Microsoft.Compute/virtualMachines/nope' under resource group 'rg-nodes' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    });
    expect(errorOf((await call('GET', `/subscriptions/${SUB}/resourceGroups/nope/providers/Microsoft.Compute/virtualMachines/x?${API}`)).body)).toEqual({
      code: 'ResourceGroupNotFound',
      message: "Resource group 'nope' could not be found.",
    });
    expect(errorOf((await call('GET', `/subscriptions/11111111-0000-4000-8000-000000000000/resourceGroups?${API}`)).body).code).toBe('SubscriptionNotFound');
    const unrouted = await call('GET', `/foo/bar?${API}`);
    expect(unrouted.status).toBe(404);
    expect(errorOf(unrouted.body).message).toBe(`No HTTP resource was found that matches the request URI '${PUBLIC_URL}/foo/bar?${API}'.`);
  });

  it('answers 400 InvalidRequestContent for a body that is not JSON', async () => {
    const response = await app.inject({ method: 'PATCH', url: `${VM}?${API}`, headers: { authorization: `Bearer ${await token()}`, 'content-type': 'application/json' }, payload: '{nope' });
    expect(response.statusCode).toBe(400);
    expect(errorOf(response.json()).code).toBe('InvalidRequestContent');
  });

  it('lists subscriptions, tenants and resource groups', async () => {
    expect((await call('GET', `/subscriptions?${API}`)).body).toEqual({ value: [expect.objectContaining({ id: `/subscriptions/${SUB}`, subscriptionId: SUB, tenantId: TENANT, state: 'Enabled' })] });
    expect((await call('GET', `/tenants?${API}`)).body).toEqual({ value: [expect.objectContaining({ tenantId: TENANT })] });
    expect((await call('GET', `/subscriptions/${SUB}/resourcegroups?${API}`)).body?.['value']).toHaveLength(2);
    expect((await call('GET', `${RG.replace('rg-nodes', 'RG-NODES')}?${API}`)).body).toMatchObject({ id: RG, name: 'rg-nodes', location: 'westeurope' });
  });
});

describe('compute long-running operations', () => {
  it('names the host the client called in operation URLs (a forwarder address, not the listener)', async () => {
    const response = await app.inject({
      method: 'PATCH',
      url: `${VMSS}?${API}`,
      headers: { authorization: `Bearer ${await token()}`, host: '10.200.0.1:40067', 'content-type': 'application/json' },
      payload: { identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('app-a')]: {} } } },
    });
    expect(response.statusCode).toBe(200);
    expect(String(response.headers['azure-asyncoperation'])).toMatch(/^https:\/\/10\.200\.0\.1:40067\/subscriptions\//);
  });

  it('PATCH answers 200 Updating with an absolute Azure-AsyncOperation URL and applies the change when the operation completes', async () => {
    const patch = await call('PATCH', `${VMSS}?${API}`, { identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('app-a')]: {}, [uami('app-b')]: {} } } });
    expect(patch.status).toBe(200);
    expect(patch.body).toMatchObject({
      id: VMSS,
      identity: {
        type: 'UserAssigned',
        userAssignedIdentities: {
          [uami('app-a')]: { principalId: 'p0000000-0000-4000-8000-000000000001', clientId: 'c0000000-0000-4000-8000-000000000001' },
          [uami('app-b')]: { principalId: 'p0000000-0000-4000-8000-000000000002', clientId: 'c0000000-0000-4000-8000-000000000002' },
        },
      },
      properties: { provisioningState: 'Updating' },
      sku: { capacity: 1 },
    });
    expect(patch.headers['retry-after']).toBe('1');
    const poll = pollPath(patch.headers['azure-asyncoperation']);
    expect(poll).toContain(API);

    // Nothing changed yet: the store (what IMDS reads) only changes when the operation ends.
    expect(store.getCompute(VMSS)?.identity.type).toBe('None');
    expect((await call('GET', poll)).body).toMatchObject({ status: 'InProgress' });
    expect((await call('GET', `${VMSS}?${API}`)).body).toMatchObject({ properties: { provisioningState: 'Updating' } });

    await clock.advance(5_000);
    const done = await call('GET', poll);
    expect(done.body).toMatchObject({ status: 'Succeeded', name: poll.split('/').pop()?.split('?')[0] });
    expect(done.body?.['endTime']).toBe(new Date(clock.now()).toISOString());
    expect(store.getCompute(VMSS)).toMatchObject({ provisioningState: 'Succeeded', identity: { type: 'UserAssigned', userAssignedIdentities: [uami('app-a'), uami('app-b')] } });
  });

  it('reads the LRO duration on every request', async () => {
    deps.lroDurationMs.vm = 100;
    const patch = await call('PATCH', `${VM}?${API}`, { identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [uami('app-a')]: {} } } });
    // Less than a second to go: still a whole second, never 0.
    expect(patch.headers['retry-after']).toBe('1');
    await clock.advance(100);
    expect(store.getCompute(VM)?.identity).toMatchObject({ type: 'SystemAssigned, UserAssigned', systemAssigned: { principalId: 'sys-p' } });
  });

  it('sends the Retry-After configured per operation kind (read per request) on the write and on every InProgress poll', async () => {
    deps.lroRetryAfterSeconds.vmssUpdate = 10;
    deps.lroRetryAfterSeconds.vmDelete = 3;
    const patch = await call('PATCH', `${VMSS}?${API}`, { identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('app-a')]: {} } } });
    expect(patch.headers['retry-after']).toBe('10');
    const poll = pollPath(patch.headers['azure-asyncoperation']);
    await clock.advance(4_900);
    expect((await call('GET', poll)).headers['retry-after']).toBe('10');
    deps.lroRetryAfterSeconds.vmssUpdate = 2;
    expect((await call('GET', poll)).headers['retry-after']).toBe('2');
    await clock.advance(100);
    const done = await call('GET', poll);
    expect(done.body).toMatchObject({ status: 'Succeeded' });
    expect(done.headers['retry-after']).toBeUndefined();

    const vmPatch = await call('PATCH', `${VM}?${API}`, { tags: { a: 'b' } });
    expect(vmPatch.headers['retry-after']).toBe('1');
    await clock.advance(1_000);
    const deleted = await call('DELETE', `${VM}?${API}`);
    expect(deleted.headers['retry-after']).toBe('3');
  });

  it('counts the polls of each operation (both status URLs), InProgress ones apart, in the poll log', async () => {
    const START = new Date(clock.now()).toISOString();
    const patch = await call('PATCH', `${VMSS}?${API}`, { identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('app-a')]: {} } } });
    const poll = pollPath(patch.headers['azure-asyncoperation']);
    await call('GET', poll);
    await call('GET', poll);
    await clock.advance(5_000);
    await call('GET', poll);
    const vmssOperation = poll.split('/').pop()?.split('?')[0];
    expect(pollLog.query()).toEqual([
      { operationId: vmssOperation, kind: 'vmssUpdate', resourceId: VMSS, startTime: START, endTime: new Date(clock.now()).toISOString(), status: 'Succeeded', polls: 3, pollsInProgress: 2 },
    ]);

    const deleted = await call('DELETE', `${VM}?${API}`);
    const monitor = String(deleted.headers['location']).slice(PUBLIC_URL.length);
    await call('GET', monitor);
    await call('GET', pollPath(deleted.headers['azure-asyncoperation']));
    expect(pollLog.query({ kind: 'vmDelete' })).toEqual([expect.objectContaining({ resourceId: VM, status: 'InProgress', polls: 2, pollsInProgress: 2 })]);
    expect(pollLog.query({ resource: 'AKS-POOL-VMSS' }).map((entry) => entry.kind)).toEqual(['vmssUpdate']);
    // A poll of an unknown operation is a 404, not a count.
    expect((await call('GET', poll.replace(/operations\/[0-9a-f-]+/, 'operations/00000000-0000-4000-8000-000000000000'))).status).toBe(404);
    expect(pollLog.query().map((entry) => entry.polls)).toEqual([3, 2]);
  });

  it('refuses another write while an operation runs: 409 Conflict with Compute’s text', async () => {
    await call('PATCH', `${VM}?${API}`, { identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [uami('app-a')]: {} } } });
    const second = await call('PATCH', `${VM}?${API}`, { identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [uami('app-b')]: {} } } });
    expect(second.status).toBe(409);
    expect(errorOf(second.body)).toEqual({
      code: 'Conflict',
      message: 'The request failed due to conflict with a concurrent request. To resolve it, please refer to https://aka.ms/activitylog to get more details on the conflicting requests.',
    });
    await clock.advance(1_000);
    expect((await call('PATCH', `${VM}?${API}`, { identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [uami('app-b')]: {} } } })).status).toBe(200);
  });

  it('fails the operation and leaves the identity block unchanged when an identity being added is deleted mid-flight', async () => {
    const patch = await call('PATCH', `${VMSS}?${API}`, { identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('app-a')]: {} } } });
    store.deleteIdentity(uami('app-a'));
    await clock.advance(5_000);
    const status = await call('GET', pollPath(patch.headers['azure-asyncoperation']));
    expect(status.body).toMatchObject({ status: 'Failed', error: { code: 'FailedIdentityOperation' } });
    expect(errorOf(status.body).message).toContain(`Resource '${uami('app-a').toLowerCase()}' was not found.`);
    expect(store.getCompute(VMSS)).toMatchObject({ provisioningState: 'Failed', identity: { type: 'None', userAssignedIdentities: [] } });
  });

  it('rejects identity errors synchronously without starting an operation', async () => {
    const unknown = await call('PATCH', `${VMSS}?${API}`, { identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('ghost')]: {} } } });
    expect(unknown.status).toBe(400);
    expect(errorOf(unknown.body).code).toBe('FailedIdentityOperation');
    expect(errorOf(unknown.body).message.startsWith(`Identity operation for resource '${VMSS}' failed`)).toBe(true);
    expect(store.getCompute(VMSS)?.provisioningState).toBe('Succeeded');
    // not locked: the next write goes through
    expect((await call('PATCH', `${VMSS}?${API}`, { tags: { x: 'y' } })).status).toBe(200);
  });

  it('creates a VM with PUT (201 Creating) and deletes it (202 + Location, then gone)', async () => {
    const url = `${RG}/providers/Microsoft.Compute/virtualMachines/node-2?${API}`;
    const created = await call('PUT', url, { location: 'westeurope', properties: { hardwareProfile: { vmSize: 'Standard_B2s' } }, identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('app-a')]: {} } } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ properties: { provisioningState: 'Creating', hardwareProfile: { vmSize: 'Standard_B2s' } } });
    await clock.advance(1_000);
    expect(store.getCompute(`${RG}/providers/Microsoft.Compute/virtualMachines/node-2`)).toMatchObject({ provisioningState: 'Succeeded', vmSize: 'Standard_B2s', identity: { userAssignedIdentities: [uami('app-a')] } });

    const deleted = await call('DELETE', url);
    expect(deleted.status).toBe(202);
    expect(deleted.headers['location']).toMatch(/monitor=true$/);
    const duringDelete = await call('PATCH', url, { tags: {} });
    expect(errorOf(duringDelete.body)).toEqual({
      code: 'OperationNotAllowed',
      message: "Operation 'Update VM' is not allowed on VM 'node-2' since the VM is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).",
    });
    await clock.advance(1_000);
    expect((await call('GET', url)).status).toBe(404);
    expect((await call('DELETE', url)).status).toBe(204);
  });

  it('needs a location to create', async () => {
    const response = await call('PUT', `${RG}/providers/Microsoft.Compute/virtualMachines/node-3?${API}`, {});
    expect(errorOf(response.body).code).toBe('LocationRequired');
  });

  it('scales a scale set with sku.capacity and lists its instances with AKS computer names', async () => {
    await call('PATCH', `${VMSS}?${API}`, { sku: { capacity: 3 } });
    await clock.advance(5_000);
    const instances = await call('GET', `${VMSS}/virtualMachines?${API}`);
    expect((instances.body?.['value'] as { properties: { osProfile: { computerName: string } } }[]).map((instance) => instance.properties.osProfile.computerName)).toEqual([
      'aks-pool-vmss000000',
      'aks-pool-vmss000001',
      'aks-pool-vmss000002',
    ]);
    expect((await call('GET', `${VMSS}/virtualMachines/1?${API}`)).body).toMatchObject({ instanceId: '1', name: 'aks-pool-vmss_1' });
  });

  it('lists VMs and scale sets by group and subscription', async () => {
    expect((await call('GET', `${RG}/providers/Microsoft.Compute/virtualMachines?${API}`)).body?.['value']).toHaveLength(1);
    expect((await call('GET', `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachineScaleSets?${API}`)).body?.['value']).toHaveLength(1);
  });
});

describe('managed identities', () => {
  it('creates (201), updates (200), gets, lists and deletes', async () => {
    const url = `${IDS_RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/new-id?api-version=2024-11-30`;
    const created = await call('PUT', url, { location: 'westeurope', tags: { team: 'a' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ type: 'Microsoft.ManagedIdentity/userAssignedIdentities', properties: { tenantId: TENANT } });
    const properties = created.body?.['properties'] as Record<string, unknown>;
    expect(properties['clientId']).toMatch(/^[0-9a-f-]{36}$/);
    expect(properties['principalId']).toMatch(/^[0-9a-f-]{36}$/);
    expect(store.getIdentity(uami('new-id'))?.tags).toEqual({ team: 'a' });
    expect((await call('PUT', url, { location: 'westeurope' })).status).toBe(200);
    expect((await call('GET', `${IDS_RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?${API}`)).body?.['value']).toHaveLength(3);
    expect((await call('GET', `/subscriptions/${SUB}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?${API}`)).body?.['value']).toHaveLength(3);
    expect((await call('DELETE', url)).status).toBe(200);
    expect(store.getIdentity(uami('new-id'))).toBeUndefined();
    expect(errorOf((await call('GET', url)).body).message).toBe(
      "The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/new-id' under resource group 'rg-ids' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    );
    expect((await call('DELETE', url)).status).toBe(204);
  });
});

describe('authorization', () => {
  const assignmentUrl = (scope: string, name: string) => `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=2022-04-01`;
  const roleId = (guid: string) => `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
  const body = (principalId: string, guid: string) => ({ properties: { roleDefinitionId: roleId(guid), principalId, principalType: 'ServicePrincipal' } });

  it('creates an assignment with a GUID name, refuses duplicates, unknown principals and non-GUID names', async () => {
    const principal = 'p0000000-0000-4000-8000-000000000001';
    const created = await call('PUT', assignmentUrl(IDS_RG, '3f2504e0-4f89-41d3-9a0c-0305e82c3301'), body(principal, ROLE_IDS.managedIdentityOperator));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', properties: { scope: IDS_RG, principalId: principal } });
    expect((await call('PUT', assignmentUrl(IDS_RG, '3f2504e0-4f89-41d3-9a0c-0305e82c3301'), body(principal, ROLE_IDS.managedIdentityOperator))).status).toBe(200);

    const duplicate = await call('PUT', assignmentUrl(IDS_RG, '3f2504e0-4f89-41d3-9a0c-0305e82c3302'), body(principal, ROLE_IDS.managedIdentityOperator));
    expect(duplicate.status).toBe(409);
    expect(errorOf(duplicate.body)).toEqual({ code: 'RoleAssignmentExists', message: 'The role assignment already exists.' });

    const changed = await call('PUT', assignmentUrl(IDS_RG, '3f2504e0-4f89-41d3-9a0c-0305e82c3301'), body(MIC.oid, ROLE_IDS.managedIdentityOperator));
    expect(errorOf(changed.body).code).toBe('RoleAssignmentUpdateNotPermitted');

    const ghost = await call('PUT', assignmentUrl(IDS_RG, '3f2504e0-4f89-41d3-9a0c-0305e82c3303'), body('99999999-0000-4000-8000-000000000000', ROLE_IDS.reader));
    expect(ghost.status).toBe(400);
    expect(errorOf(ghost.body).code).toBe('PrincipalNotFound');
    expect(errorOf(ghost.body).message).toMatch(/^Principal 99999999000040008000000000000000 does not exist in the directory 72f988bf-0000-4000-8000-000000000000\./);

    const badName = await call('PUT', assignmentUrl(IDS_RG, 'not-a-guid'), body(principal, ROLE_IDS.reader));
    expect(errorOf(badName.body)).toMatchObject({ code: 'InvalidRoleAssignmentId' });
    expect(store.listRoleAssignments()).toHaveLength(1);
  });

  it('lists with atScope() and principalId filters, gets and deletes', async () => {
    await call('PUT', assignmentUrl(`/subscriptions/${SUB}`, '3f2504e0-4f89-41d3-9a0c-0305e82c3311'), body(MIC.oid, ROLE_IDS.reader));
    await call('PUT', assignmentUrl(RG, '3f2504e0-4f89-41d3-9a0c-0305e82c3312'), body(MIC.oid, ROLE_IDS.virtualMachineContributor));
    await call('PUT', assignmentUrl(uami('app-a'), '3f2504e0-4f89-41d3-9a0c-0305e82c3313'), body('p0000000-0000-4000-8000-000000000002', ROLE_IDS.reader));
    const list = async (scope: string, filter?: string) => {
      const query = filter === undefined ? '' : `&$filter=${encodeURIComponent(filter)}`;
      const response = await call('GET', `${scope}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01${query}`);
      return (response.body?.['value'] as { name: string }[]).map((assignment) => assignment.name.slice(-2)).sort();
    };
    expect(await list(RG, 'atScope()')).toEqual(['11', '12']);
    expect(await list(`/subscriptions/${SUB}`)).toEqual(['11', '12', '13']);
    expect(await list(`/subscriptions/${SUB}`, `principalId eq '${MIC.oid}'`)).toEqual(['11', '12']);
    expect(await list('', "assignedTo('p0000000-0000-4000-8000-000000000002')")).toEqual(['13']);

    expect((await call('GET', assignmentUrl(RG, '3f2504e0-4f89-41d3-9a0c-0305e82c3312'))).status).toBe(200);
    expect((await call('DELETE', assignmentUrl(RG, '3f2504e0-4f89-41d3-9a0c-0305e82c3312'))).status).toBe(200);
    expect(errorOf((await call('GET', assignmentUrl(RG, '3f2504e0-4f89-41d3-9a0c-0305e82c3312'))).body).code).toBe('RoleAssignmentNotFound');
  });

  it('serves built-in role definitions by GUID at any scope and by roleName filter', async () => {
    const byId = await call('GET', `${RG}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.managedIdentityOperator}?api-version=2022-04-01`);
    expect(byId.body).toMatchObject({ id: roleId(ROLE_IDS.managedIdentityOperator), name: ROLE_IDS.managedIdentityOperator, properties: { roleName: 'Managed Identity Operator', type: 'BuiltInRole' } });
    const filtered = await call('GET', `/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01&$filter=${encodeURIComponent("roleName eq 'Virtual Machine Contributor'")}`);
    expect(filtered.body).toEqual({ value: [expect.objectContaining({ id: `/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.virtualMachineContributor}` })] });
    expect(errorOf((await call('GET', `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/00000000-0000-0000-0000-000000000000?${API}`)).body).code).toBe('RoleDefinitionDoesNotExist');
  });
});

describe('RBAC (enforceRbac)', () => {
  const grant = (principalId: string, scope: string, role: string, n: number) => {
    store.putRoleAssignment({
      id: `${scope}/providers/Microsoft.Authorization/roleAssignments/00000000-0000-4000-8000-00000000000${n}`,
      name: `00000000-0000-4000-8000-00000000000${n}`,
      scope,
      roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
      principalId,
      principalType: 'ServicePrincipal',
      createdOn: '2026-01-01T00:00:00Z',
    });
  };
  const addIdentity = { identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('app-a')]: {} } } };

  beforeEach(() => {
    deps.enforceRbac = true;
  });

  it('403 AuthorizationFailed without a write role on the scale set', async () => {
    const response = await call('PATCH', `${VMSS}?${API}`, addIdentity);
    expect(response.status).toBe(403);
    expect(errorOf(response.body)).toEqual({
      code: 'AuthorizationFailed',
      message: `The client '${MIC.appid}' with object id '${MIC.oid}' does not have authorization to perform action 'Microsoft.Compute/virtualMachineScaleSets/write' over scope '${VMSS}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    });
  });

  it('403 LinkedAuthorizationFailed with write on the scale set but without Managed Identity Operator on the identity', async () => {
    grant(MIC.oid, RG, ROLE_IDS.virtualMachineContributor, 1);
    const response = await call('PATCH', `${VMSS}?${API}`, { identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('app-a')]: {}, [uami('app-b')]: {} } } });
    expect(response.status).toBe(403);
    expect(errorOf(response.body)).toEqual({
      code: 'LinkedAuthorizationFailed',
      message: `The client '${MIC.appid}' with object id '${MIC.oid}' has permission to perform action 'Microsoft.Compute/virtualMachineScaleSets/write' on scope '${VMSS}'; however, it does not have permission to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '${uami('app-a')},${uami('app-b')}' or the linked scope(s) are invalid.`,
    });
    // Removing identities needs no linked permission.
    expect((await call('PATCH', `${VMSS}?${API}`, { identity: { type: 'None' } })).status).toBe(200);
  });

  it('lets the write through with Virtual Machine Contributor + Managed Identity Operator (what MIC is given)', async () => {
    grant(MIC.oid, RG, ROLE_IDS.virtualMachineContributor, 1);
    grant(MIC.oid, IDS_RG, ROLE_IDS.managedIdentityOperator, 2);
    expect((await call('PATCH', `${VMSS}?${API}`, addIdentity)).status).toBe(200);
  });

  it('checks identity writes and role-assignment writes, and hides subscriptions without a role', async () => {
    expect(errorOf((await call('PUT', `${IDS_RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x?${API}`, { location: 'westeurope' })).body).code).toBe('AuthorizationFailed');
    expect((await call('GET', `/subscriptions?${API}`)).body).toEqual({ value: [] });
    grant(MIC.oid, `/subscriptions/${SUB}`, ROLE_IDS.contributor, 3);
    expect((await call('PUT', `${IDS_RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x?${API}`, { location: 'westeurope' })).status).toBe(201);
    const assignment = await call('PUT', `${RG}/providers/Microsoft.Authorization/roleAssignments/3f2504e0-4f89-41d3-9a0c-0305e82c3399?api-version=2022-04-01`, {
      properties: { roleDefinitionId: ROLE_IDS.reader, principalId: MIC.oid },
    });
    expect(errorOf(assignment.body)).toMatchObject({ code: 'AuthorizationFailed' });
    expect(errorOf(assignment.body).message).toContain("'Microsoft.Authorization/roleAssignments/write'");
    expect((await call('GET', `/subscriptions?${API}`)).body?.['value']).toHaveLength(1);
  });

  it('reads enforceRbac on every request', async () => {
    expect((await call('PATCH', `${VMSS}?${API}`, addIdentity)).status).toBe(403);
    deps.enforceRbac = false;
    expect((await call('PATCH', `${VMSS}?${API}`, addIdentity)).status).toBe(200);
  });
});
