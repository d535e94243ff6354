/**
 * The simulator's control surface against real sockets: seeding through SimAdminClient, state
 * snapshots, and fault injection + the request log as real HTTP(S) clients (and an unmodified Azure
 * SDK client) see them.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { ComputeManagementClient } from '@azure/arm-compute';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requestText, type TextResponse } from '../../src/lib/http-request.ts';
import { SimAdminClient, SimAdminError } from '../../src/sim/client.ts';
import { startAzureSimulator, type AzureSimulator, type ImdsListener } from '../../src/sim/simulator.ts';
import type { UserAssignedIdentity } from '../../src/sim/state/model.ts';

interface Answer extends TextResponse {
  readonly ms: number;
}

/** One request on a fresh connection; rejects only on socket errors (what a drop or hang causes). */
function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; ca?: string; timeoutMs?: number } = {}): Promise<Answer> {
  const started = performance.now();
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const req = request(target, {
    method: options.method ?? 'GET',
    headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
    agent: false,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  return requestText(req, options.body).then((answer) => ({ ...answer, ms: performance.now() - started }));
}

describe('Azure simulator control (admin API, faults, request log)', () => {
  let sim: AzureSimulator;
  let admin: SimAdminClient;
  let imdsA: ImdsListener;
  let imdsB: ImdsListener;
  const subscriptionId = randomUUID();
  let identity: UserAssignedIdentity;

  const arm = (path: string): string => `${sim.armUrl}${path}`;
  const armGet = (path: string, headers: Record<string, string> = {}): Promise<Answer> => send(arm(path), { ca: sim.caPem, headers });
  const tokenPath = (clientId: string): string => `/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent('https://management.azure.com/')}&client_id=${clientId}`;

  beforeAll(async () => {
    sim = await startAzureSimulator({ lroDurationMs: { vm: 100, vmss: 200 } });
    admin = new SimAdminClient(sim.adminUrl);
    await admin.seedResourceGroup({ subscriptionId, resourceGroup: 'rg-nodes' });
    identity = await admin.seedIdentity({ subscriptionId, resourceGroup: 'rg-ids', name: 'app-id' });
    await admin.seedVm({ subscriptionId, resourceGroup: 'rg-nodes', name: 'node-a', identities: [identity.id] });
    await admin.seedVm({ subscriptionId, resourceGroup: 'rg-nodes', name: 'node-b', identities: [identity.id] });
    imdsA = await sim.startImds('node-a');
    imdsB = await sim.startImds('node-b');
  });

  afterAll(async () => {
    await sim.stop();
  });

  beforeEach(async () => {
    await admin.clearFaults();
    await admin.clearRequests();
  });

  describe('seeding and state', () => {
    it('seeds subscriptions, identities, VMs, AKS-style scale sets, service principals and role assignments', async () => {
      const sub = randomUUID();
      const group = await admin.seedResourceGroup({ subscriptionId: sub, resourceGroup: 'MC_rg_aks_eastus' });
      expect(group.id).toBe(`/subscriptions/${sub}/resourceGroups/MC_rg_aks_eastus`);
      const id = await admin.seedIdentity({ subscriptionId: sub, resourceGroup: 'rg-ids', name: 'reader', tags: { team: 'a' } });
      expect(id.clientId).toMatch(/^[0-9a-f-]{36}$/);
      expect(id.principalId).not.toBe(id.clientId);
      expect(id.tenantId).toBe(sim.tenantId);
      const vmss = await admin.seedVmss({ subscriptionId: sub, resourceGroup: 'MC_rg_aks_eastus', pool: 'agentpool', instances: 3, identities: [id.id], systemAssigned: true });
      expect(vmss.name).toMatch(/^aks-agentpool-\d{8}-vmss$/);
      expect(vmss.instances.map((instance) => instance.computerName)).toEqual([`${vmss.name}000000`, `${vmss.name}000001`, `${vmss.name}000002`]);
      expect(vmss.identity).toMatchObject({ type: 'SystemAssigned, UserAssigned', userAssignedIdentities: [id.id] });
      const vm = await admin.seedVm({ subscriptionId: sub, resourceGroup: 'MC_rg_aks_eastus', name: 'aks-vm-0' });
      expect(vm.identity.type).toBe('None');
      const principal = await admin.seedServicePrincipal({ displayName: 'mic', secret: true });
      expect(principal.secrets[0]).toMatch(/^[\w-]{40}$/);
      const assignment = await admin.seedRoleAssignment({ scope: id.id, role: 'Managed Identity Operator', principalId: principal.objectId });
      expect(assignment.roleDefinitionId).toBe(`/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/f1a07417-d97a-45cb-824c-7a7467783830`);

      const state = await admin.getState();
      expect(state.subscriptions).toContain(sub);
      expect(state.identities.map((item) => item.id)).toContain(id.id);
      expect(state.scaleSets.find((item) => item.id === vmss.id)?.instances).toHaveLength(3);
      expect(state.servicePrincipals.find((item) => item.appId === principal.appId)?.secrets).toEqual(principal.secrets);
      expect(state.roleAssignments.map((item) => item.id)).toContain(assignment.id);
      // the same store the routes use
      expect(sim.store.findComputeByNodeName(`${vmss.name}000002`)?.resource.id).toBe(vmss.id);
    });

    it('refuses bad seeds with every problem listed, and duplicates with 409', async () => {
      const error = await admin.seedVmss({ subscriptionId: 'a/b', resourceGroup: 'rg', instances: -1, identities: ['not-an-id'] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SimAdminError);
      expect(error).toMatchObject({ status: 400, code: 'InvalidInput' });
      expect((error as SimAdminError).problems).toHaveLength(3);
      expect((error as SimAdminError).problems).toEqual(
        expect.arrayContaining([
          expect.stringContaining('subscriptionId: "a/b" is not a name'),
          expect.stringContaining('instances: must be an integer from 0 to 1000'),
          expect.stringContaining('identities[0]: "not-an-id" is not a user-assigned identity resource ID'),
        ]),
      );
      await expect(admin.seedIdentity({ subscriptionId, resourceGroup: 'rg-ids', name: 'app-id' })).rejects.toMatchObject({ status: 409, code: 'Conflict' });
      await expect(admin.seedRoleAssignment({ scope: '/', role: 'Chief Wizard', principalId: randomUUID() })).rejects.toThrow(/known built-in role/);
    });

    it('round-trips a snapshot through PUT /state, fills generated fields, and rejects bad state without changing anything', async () => {
      const before = await admin.getState();
      expect(await admin.putState(before)).toEqual(before);
      expect(await admin.getState()).toEqual(before);

      const fresh = await admin.putState({ identities: [{ subscriptionId, resourceGroup: 'rg', name: 'minimal' }], virtualMachines: [{ subscriptionId, resourceGroup: 'rg', name: 'vm-min' }] });
      expect(fresh.identities[0]).toMatchObject({ name: 'minimal', location: 'eastus', tenantId: sim.tenantId, clientId: expect.stringMatching(/^[0-9a-f-]{36}$/) as string });
      expect(fresh.virtualMachines[0]?.identity).toEqual({ type: 'None', userAssignedIdentities: [] });
      expect(fresh.resourceGroups).toEqual([`/subscriptions/${subscriptionId}/resourceGroups/rg`]);

      const bad = await admin.putState({ identities: [{ name: 'x', clientId: 'nope' }], colour: 'red' }).catch((e: unknown) => e);
      expect(bad).toMatchObject({ status: 400 });
      expect((bad as SimAdminError).problems).toEqual(
        expect.arrayContaining([expect.stringContaining('colour: unknown field'), expect.stringContaining('identities[0].clientId: "nope" is not a GUID')]),
      );
      await expect(admin.putState({ tenantId: randomUUID() })).rejects.toThrow(/differs from this simulator's tenant/);
      expect(await admin.getState()).toEqual(fresh);
      await admin.putState(before);
    });

    it('deletes an identity in Azure while it stays assigned (dangling ID on the VM)', async () => {
      const doomed = await admin.seedIdentity({ subscriptionId, resourceGroup: 'rg-ids', name: 'doomed' });
      const vm = await admin.seedVm({ subscriptionId, resourceGroup: 'rg-nodes', name: 'node-doomed', identities: [doomed.id, identity.id] });
      await admin.deleteIdentity(doomed.id);
      const state = await admin.getState();
      expect(state.identities.map((item) => item.id)).not.toContain(doomed.id);
      expect(state.virtualMachines.find((item) => item.id === vm.id)?.identity.userAssignedIdentities).toEqual([doomed.id, identity.id]);
      const target = sim.store.getCompute(vm.id);
      expect(target && sim.store.assignedIdentities(target).dangling).toEqual([doomed.id]);
      await expect(admin.deleteIdentity(doomed.id)).rejects.toMatchObject({ status: 404 });
    });

    it('answers malformed JSON and bad options with 400 and keeps serving', async () => {
      const malformed = await send(`${sim.adminUrl}/faults`, { method: 'POST', body: '{"action":' });
      expect(malformed.status).toBe(400);
      expect(JSON.parse(malformed.body)).toMatchObject({ error: { code: 'FST_ERR_CTP_INVALID_JSON_BODY' } });
      await expect(admin.setOptions({ lroDurationMs: { vm: -5 } })).rejects.toMatchObject({ status: 400, problems: [expect.stringContaining('lroDurationMs.vm')] });
      await expect(admin.requests({ pathRegex: '(' })).rejects.toMatchObject({ status: 400 });
      expect(await admin.healthz()).toEqual({ ok: true });
    });

    it('changes runtime options for the routes', async () => {
      const options = await admin.setOptions({ lroDurationMs: { vmss: 150 }, enforceRbac: true, imdsLimits: false });
      expect(options).toEqual({ lroDurationMs: { vm: 100, vmss: 150 }, lroRetryAfterSeconds: { vmUpdate: 1, vmssUpdate: 1, vmDelete: 1, vmssDelete: 1 }, imdsLimits: false, enforceRbac: true, oidcCaPems: [] });
      expect(sim.settings.lroDurationMs.vmss).toBe(150);
      expect(sim.settings.enforceRbac).toBe(true);
      await admin.setOptions({ lroDurationMs: { vmss: 200 }, enforceRbac: false, imdsLimits: { requestsPerSecond: 20, maxConcurrent: 5 } });
      expect(await admin.options()).toEqual({
        lroDurationMs: { vm: 100, vmss: 200 },
        lroRetryAfterSeconds: { vmUpdate: 1, vmssUpdate: 1, vmDelete: 1, vmssDelete: 1 },
        imdsLimits: { requestsPerSecond: 20, maxConcurrent: 5 },
        enforceRbac: false,
        oidcCaPems: [],
      });
    });
  });

  describe('ARM as a private cloud: its own endpoint as the token audience', () => {
    /** A v1 client-credentials token for `resource`, as go-autorest's adal asks for one. */
    async function v1Token(resource: string): Promise<string> {
      const principal = await admin.seedServicePrincipal({ secret: true });
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: principal.appId, client_secret: principal.secrets[0] ?? '', resource });
      const answer = await send(`${sim.entraUrl}/${sim.tenantId}/oauth2/token`, { method: 'POST', ca: sim.caPem, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
      expect(answer.status).toBe(200);
      return (JSON.parse(answer.body) as { access_token: string }).access_token;
    }

    it.each(['trailing slash', 'no trailing slash', 'localhost'])('accepts a token whose resource is its own endpoint (%s)', async (variant) => {
      const port = new URL(sim.armUrl).port;
      const resource = variant === 'trailing slash' ? `${sim.armUrl}/` : variant === 'localhost' ? `https://localhost:${port}/` : sim.armUrl;
      const answer = await armGet('/subscriptions?api-version=2022-12-01', { Authorization: `Bearer ${await v1Token(resource)}` });
      expect(answer.status).toBe(200);
    });

    it('refuses another endpoint with 401 InvalidAuthenticationTokenAudience, listing what it accepts', async () => {
      const foreign = 'https://127.0.0.1:1/';
      const answer = await armGet('/subscriptions?api-version=2022-12-01', { Authorization: `Bearer ${await v1Token(foreign)}` });
      expect(answer.status).toBe(401);
      const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('InvalidAuthenticationTokenAudience');
      expect(body.error.message).toContain(`wrong audience or resource '${foreign}'`);
      expect(body.error.message).toContain(`'${sim.armUrl}/'`);
      expect(answer.headers['www-authenticate']).toMatch(/invalid_token/);
    });
  });

  describe('long-running operations: Retry-After and polls per operation', () => {
    function sdkClient(): ComputeManagementClient {
      const credential: TokenCredential = {
        getToken: async (): Promise<AccessToken> => {
          const signed = await sim.issuer.sign({ aud: 'https://management.azure.com', iss: `https://sts.windows.net/${sim.tenantId}/`, tid: sim.tenantId, oid: 'o', sub: 'o', appid: 'a' }, 3_600);
          return { token: signed.token, expiresOnTimestamp: signed.expiresOn * 1000 };
        },
      };
      return new ComputeManagementClient(credential, subscriptionId, { endpoint: sim.armUrl, tlsOptions: { ca: sim.caPem } });
    }

    it('counts the polls of each operation, so a client honouring Retry-After shows 2 for a short operation', async () => {
      // core-lro polls once at once (InProgress: 100 ms to go), waits the 1 s Retry-After, polls again (Succeeded).
      await sdkClient().virtualMachines.update('rg-nodes', 'node-a', { tags: { poll: 'count' } }, { updateIntervalInMs: 10 });
      const [operation, ...others] = await admin.operationPolls({ resource: '/virtualMachines/node-a' });
      expect(others).toEqual([]);
      expect(operation).toMatchObject({ kind: 'vmUpdate', status: 'Succeeded', polls: 2, pollsInProgress: 1 });
      expect(await admin.operationPolls({ kind: 'vmssUpdate' })).toEqual([]);
      await expect(admin.operationPolls({ kind: 'vmCreate' as never })).rejects.toMatchObject({ status: 400 });
      await admin.clearRequests();
      expect(await admin.operationPolls()).toEqual([]);
    });

    it('sends the Retry-After configured per kind, never 0, and refuses 0 as an option', async () => {
      await expect(admin.setOptions({ lroRetryAfterSeconds: { vmUpdate: 0 } })).rejects.toMatchObject({ status: 400, problems: [expect.stringContaining('lroRetryAfterSeconds.vmUpdate')] });
      await admin.setOptions({ lroRetryAfterSeconds: { vmUpdate: 7 } });
      try {
        const signed = await sim.issuer.sign({ aud: 'https://management.azure.com', iss: `https://sts.windows.net/${sim.tenantId}/`, tid: sim.tenantId, oid: 'o', sub: 'o', appid: 'a' }, 600);
        const headers = { Authorization: `Bearer ${signed.token}` };
        const vm = `/subscriptions/${subscriptionId}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachines/node-b?api-version=2024-07-01`;
        const patch = await send(arm(vm), { method: 'PATCH', ca: sim.caPem, headers, body: JSON.stringify({ tags: { retry: 'after' } }) });
        expect(patch.status).toBe(200);
        expect(patch.headers['retry-after']).toBe('7');
        const status = String(patch.headers['azure-asyncoperation']);
        const running = await send(status, { ca: sim.caPem, headers });
        expect(JSON.parse(running.body)).toMatchObject({ status: 'InProgress' });
        expect(running.headers['retry-after']).toBe('7');
        await new Promise((resolve) => setTimeout(resolve, 150));
        const done = await send(status, { ca: sim.caPem, headers });
        expect(JSON.parse(done.body)).toMatchObject({ status: 'Succeeded' });
        expect(done.headers['retry-after']).toBeUndefined();
        expect(await admin.operationPolls({ resource: 'node-b' })).toEqual([expect.objectContaining({ polls: 2, pollsInProgress: 1 })]);
      } finally {
        await admin.setOptions({ lroRetryAfterSeconds: { vmUpdate: 1 } });
      }
    });
  });

  describe('fault injection seen by real clients', () => {
    it('adds latency', async () => {
      const baseline = await armGet('/subscriptions?api-version=2022-12-01');
      await admin.addFault({ service: 'arm', path: '^/subscriptions$', action: { kind: 'latency', ms: 400 } });
      const slow = await armGet('/subscriptions?api-version=2022-12-01');
      expect(slow.status).toBe(baseline.status);
      expect(slow.ms).toBeGreaterThanOrEqual(390);
      expect(slow.ms - baseline.ms).toBeGreaterThan(300);
      const [entry] = (await admin.requests({ service: 'arm', faulted: true })).entries;
      expect(entry).toMatchObject({ status: baseline.status, fault: { kind: 'latency', ms: 400 } });
      expect(entry?.durationMs).toBeGreaterThanOrEqual(390);
    });

    it('throttles ARM with 429, Retry-After, the rate-limit headers and the ARM envelope', async () => {
      await admin.addFault({ service: 'arm', method: 'PATCH', path: '/virtualMachines/', action: { kind: 'status', status: 429, retryAfterSeconds: 17 } });
      const answer = await send(arm(`/subscriptions/${subscriptionId}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachines/node-a?api-version=2026-04-01`), {
        method: 'PATCH',
        ca: sim.caPem,
        body: JSON.stringify({ identity: { type: 'UserAssigned', userAssignedIdentities: {} } }),
      });
      expect(answer.status).toBe(429);
      expect(answer.headers['retry-after']).toBe('17');
      expect(answer.headers['x-ms-ratelimit-remaining-subscription-writes']).toBe('0');
      expect(answer.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.parse(answer.body)).toEqual({ error: { code: 'TooManyRequests', message: expect.any(String) as string } });
      // the rule was for PATCH only
      expect((await armGet('/subscriptions?api-version=2022-12-01')).status).not.toBe(429);
    });

    it('fails Entra ID with 500 and an AADSTS body, IMDS with 503 and {error, error_description}', async () => {
      await admin.addFaults([
        { service: 'entra', path: '/oauth2/v2.0/token$', action: { kind: 'status', status: 500 } },
        { service: 'imds', action: { kind: 'status', status: 503, retryAfterSeconds: 2 } },
      ]);
      const entra = await send(`${sim.entraUrl}/${sim.tenantId}/oauth2/v2.0/token`, { method: 'POST', ca: sim.caPem, body: '{}' });
      expect(entra.status).toBe(500);
      expect(JSON.parse(entra.body)).toMatchObject({ error: 'server_error', error_codes: [90033], error_description: expect.stringMatching(/^AADSTS90033/) as string });
      const imds = await send(`${imdsA.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } });
      expect(imds.status).toBe(503);
      expect(imds.headers['retry-after']).toBe('2');
      expect(Object.keys(JSON.parse(imds.body) as object).sort()).toEqual(['error', 'error_description']);
    });

    it('faults one node only when the rule names it', async () => {
      await admin.addFault({ service: 'imds:node-a', action: { kind: 'status', status: 500 } });
      expect((await send(`${imdsA.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } })).status).toBe(500);
      const healthy = await send(`${imdsB.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } });
      expect(healthy.status).toBe(200);
      expect(JSON.parse(healthy.body)).toMatchObject({ token_type: 'Bearer', client_id: identity.clientId });
    });

    it('drops the connection without a response', async () => {
      await admin.addFault({ service: 'arm', action: { kind: 'drop' } });
      await expect(armGet('/subscriptions?api-version=2022-12-01')).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET|EPIPE/) as string });
      await expect(send(`${imdsA.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } })).resolves.toMatchObject({ status: 200 });
      const [entry] = (await admin.requests({ service: 'arm' })).entries;
      expect(entry).toMatchObject({ status: 0, fault: { kind: 'drop' } });
    });

    it('hangs, then drops', async () => {
      await admin.addFault({ service: 'imds', times: 1, action: { kind: 'hang', ms: 300 } });
      const started = performance.now();
      await expect(send(`${imdsA.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } })).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect((await admin.requests({ service: 'imds', faulted: true })).entries).toEqual([expect.objectContaining({ status: 0, fault: expect.objectContaining({ kind: 'hang', ms: 300 }) as object })]);
    });

    it('honours `times`, then answers normally', async () => {
      const rule = await admin.addFault({ service: 'imds:node-b', times: 2, action: { kind: 'status', status: 500 } });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await send(`${imdsB.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } })).status);
      expect(statuses).toEqual([500, 500, 200, 200]);
      expect(await admin.faults()).toEqual([expect.objectContaining({ id: rule.id, remaining: 0, hits: 2 })]);
      expect((await admin.requests({ service: 'imds:node-b' })).entries.map((entry) => entry.fault?.status ?? entry.status)).toEqual([500, 500, 200, 200]);
    });

    it('removes a rule by id', async () => {
      const rule = await admin.addFault({ service: 'imds', action: { kind: 'status', status: 500 } });
      expect((await send(`${imdsA.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } })).status).toBe(500);
      await admin.removeFault(rule.id);
      expect((await send(`${imdsA.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } })).status).toBe(200);
      await expect(admin.removeFault(rule.id)).rejects.toMatchObject({ status: 404 });
    });

    it('deletes an identity when a matching request arrives (identity deleted mid-flight)', async () => {
      const victim = await admin.seedIdentity({ subscriptionId, resourceGroup: 'rg-ids', name: 'victim' });
      const vm = await admin.seedVm({ subscriptionId, resourceGroup: 'rg-nodes', name: 'node-victim', identities: [victim.id] });
      const imds = await sim.startImds('node-victim');
      try {
        await admin.addFault({ service: 'imds:node-victim', times: 1, action: { kind: 'delete-identity', identityId: victim.id } });
        // the request that triggers the deletion is then answered from the changed state
        const answer = await send(`${imds.url}${tokenPath(victim.clientId)}`, { headers: { Metadata: 'true' } });
        expect(answer.status).toBe(400);
        expect(sim.store.getIdentity(victim.id)).toBeUndefined();
        expect(sim.store.getCompute(vm.id)?.identity.userAssignedIdentities).toEqual([victim.id]);
        expect((await admin.requests({ service: 'imds:node-victim' })).entries[0]).toMatchObject({ status: 400, fault: { kind: 'delete-identity' } });
      } finally {
        await imds.close();
      }
    });

    it('is honoured by an unmodified Azure SDK client: a 429 with Retry-After is retried', async () => {
      const appId = randomUUID();
      const objectId = randomUUID();
      const signed = await sim.issuer.sign(
        { aud: 'https://management.azure.com', iss: `https://sts.windows.net/${sim.tenantId}/`, tid: sim.tenantId, oid: objectId, sub: objectId, appid: appId },
        3_600,
      );
      const credential: TokenCredential = {
        getToken: (): Promise<AccessToken> => Promise.resolve({ token: signed.token, expiresOnTimestamp: signed.expiresOn * 1000 }),
      };
      const compute = new ComputeManagementClient(credential, subscriptionId, { endpoint: sim.armUrl, tlsOptions: { ca: sim.caPem } });
      await admin.addFault({ service: 'arm', method: 'GET', path: '/virtualMachines/node-a$', times: 1, action: { kind: 'status', status: 429, retryAfterSeconds: 0 } });
      const vm = await compute.virtualMachines.get('rg-nodes', 'node-a');
      expect(vm.name).toBe('node-a');
      const entries = (await admin.requests({ service: 'arm', path: '/virtualMachines/node-a' })).entries;
      expect(entries.map((entry) => entry.status)).toEqual([429, 200]);
      expect(entries[0]?.fault).toMatchObject({ kind: 'status', status: 429 });
      // the token went over the wire but never into the log
      const everything = JSON.stringify(await admin.requests());
      expect(everything).not.toContain(signed.token);
      expect(everything).not.toMatch(/bearer/i);
    });
  });

  describe('request log', () => {
    it('records every service with method, path, query, status, duration and client address', async () => {
      await armGet('/subscriptions?api-version=2022-12-01');
      await send(`${imdsA.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } });
      await send(`${sim.entraUrl}/${sim.tenantId}/v2.0/.well-known/openid-configuration`, { ca: sim.caPem });
      const { entries, lastSeq } = await admin.requests({ service: 'arm' });
      expect(entries).toEqual([
        expect.objectContaining({ service: 'arm', method: 'GET', path: '/subscriptions', query: { 'api-version': '2022-12-01' }, status: 401, clientAddress: '127.0.0.1' }),
      ]);
      expect(entries[0]?.durationMs).toBeGreaterThanOrEqual(0);
      expect(Object.keys(entries[0] ?? {}).sort()).toEqual(['clientAddress', 'durationMs', 'method', 'path', 'query', 'seq', 'service', 'status', 'time']);
      const imds = (await admin.requests({ service: 'imds' })).entries;
      expect(imds).toEqual([expect.objectContaining({ service: 'imds:node-a', node: 'node-a', status: 200, query: expect.objectContaining({ client_id: identity.clientId }) as object })]);
      expect((await admin.requests({ service: 'entra', path: 'openid-configuration' })).entries).toHaveLength(1);
      expect((await admin.requests({ since: lastSeq })).entries.every((entry) => entry.seq > lastSeq)).toBe(true);
    });

    it('never records Authorization headers, bodies, secrets, assertions or tokens', async () => {
      const principal = await admin.seedServicePrincipal({ secret: 'sup3r-s3cret-value' });
      const jwt = (await sim.issuer.sign({ aud: 'https://management.azure.com', iss: 'x', tid: sim.tenantId, oid: 'o', sub: 'o', appid: 'a' }, 600)).token;
      await armGet('/subscriptions?api-version=2022-12-01', { Authorization: `Bearer ${jwt}` });
      const form = new URLSearchParams({ client_id: principal.appId, client_secret: 'sup3r-s3cret-value', scope: 'https://management.azure.com/.default', grant_type: 'client_credentials' });
      const token = await send(`${sim.entraUrl}/${sim.tenantId}/oauth2/v2.0/token?client_secret=sup3r-s3cret-value&client_assertion=${jwt}`, {
        method: 'POST',
        ca: sim.caPem,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      const issued = (JSON.parse(token.body) as { access_token?: string }).access_token;
      const imds = await send(`${imdsA.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } });
      const imdsToken = (JSON.parse(imds.body) as { access_token: string }).access_token;
      const { entries } = await admin.requests();
      expect(entries.length).toBeGreaterThanOrEqual(3);
      expect(entries.find((entry) => entry.service === 'entra')?.query).toMatchObject({ client_secret: '[redacted]', client_assertion: '[redacted]' });
      const everything = JSON.stringify(entries);
      for (const secret of ['sup3r-s3cret-value', jwt, imdsToken, ...(issued !== undefined ? [issued] : [])]) expect(everything).not.toContain(secret);
      expect(everything).not.toMatch(/bearer|authorization|grant_type/i);
    });

    it('waits for a request that has not happened yet, and times out', async () => {
      const since = (await admin.requests()).lastSeq;
      const waiting = admin.waitForRequest({ service: 'imds:node-b', since }, 5_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await send(`${imdsB.url}${tokenPath(identity.clientId)}`, { headers: { Metadata: 'true' } });
      await expect(waiting).resolves.toMatchObject({ service: 'imds:node-b', status: 200 });
      await expect(admin.waitForRequest({ service: 'imds:nowhere' }, 100)).rejects.toMatchObject({ status: 504, code: 'Timeout' });
    });

    it('clears', async () => {
      await armGet('/subscriptions?api-version=2022-12-01');
      await admin.clearRequests();
      const { entries } = await admin.requests({ service: 'arm' });
      expect(entries).toEqual([]);
    });
  });
});
