import fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArmRoutes, ROLE_IDS, type ArmDeps } from '../../../../src/sim/arm/index.ts';
import { SimStore } from '../../../../src/sim/state/store.ts';
import { TokenIssuer } from '../../../../src/sim/tokens/issuer.ts';

const TENANT = '72f988bf-0000-4000-8000-000000000000';
const SUB = '00000000-0000-4000-8000-000000000001';
const RG = `/subscriptions/${SUB}/resourceGroups/rg-ids`;
const UAMI = `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app`;
const FICS = `${UAMI}/federatedIdentityCredentials`;
const API = 'api-version=2024-11-30';
const CALLER = { oid: 'aaaaaaaa-0000-4000-8000-00000000000a', appid: 'bbbbbbbb-0000-4000-8000-00000000000b' };
const ISSUER = 'https://oidc.example/cluster';
const body = (subject: string, issuer = ISSUER) => ({ properties: { issuer, subject, audiences: ['api://AzureADTokenExchange'] } });

let store: SimStore;
let issuer: TokenIssuer;
let deps: ArmDeps;
let app: FastifyInstance;

beforeEach(async () => {
  issuer = TokenIssuer.create();
  store = new SimStore(TENANT);
  store.load({
    subscriptions: [SUB],
    resourceGroups: [RG],
    identities: [{ id: UAMI, name: 'app', subscriptionId: SUB, resourceGroup: 'rg-ids', location: 'westeurope', tags: {}, clientId: 'c0000000-0000-4000-8000-000000000001', principalId: 'p0000000-0000-4000-8000-000000000001', tenantId: TENANT }],
  });
  deps = { store, issuer, lroDurationMs: { vm: 1, vmss: 1 }, enforceRbac: false, publicUrl: () => 'https://arm.example', logger: pino({ level: 'silent' }) };
  app = fastify();
  await app.register(createArmRoutes(), deps);
  await app.ready();
});

afterEach(async () => {
  await app.close();
});

async function call(method: 'GET' | 'PUT' | 'DELETE' | 'PATCH', url: string, payload?: unknown) {
  const claims = { aud: 'https://management.azure.com/', iss: `https://sts.windows.net/${TENANT}/`, tid: TENANT, oid: CALLER.oid, sub: CALLER.oid, appid: CALLER.appid };
  const authorization = `Bearer ${(await issuer.sign(claims, 3600)).token}`;
  const response = await app.inject({ method, url, headers: { authorization }, ...(payload !== undefined ? { payload: payload as object } : {}) });
  return { status: response.statusCode, body: response.body === '' ? undefined : response.json<Record<string, unknown>>() };
}

const errorOf = (response: { body: unknown }) => (response.body as { error: { code: string; message: string } }).error;

describe('federated identity credentials in the simulated ARM', () => {
  it('creates (201), updates (200), reads, lists and deletes (200, then 204) as arm-msi expects', async () => {
    const created = await call('PUT', `${FICS}/kube-nmi?${API}`, body('system:serviceaccount:kube-system:nmi'));
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: `${FICS}/kube-nmi`,
      name: 'kube-nmi',
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials',
      properties: { issuer: ISSUER, subject: 'system:serviceaccount:kube-system:nmi', audiences: ['api://AzureADTokenExchange'] },
    });
    const updated = await call('PUT', `${FICS}/KUBE-NMI?${API}`, body('system:serviceaccount:pod-identity:nmi'));
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: 'kube-nmi', properties: { subject: 'system:serviceaccount:pod-identity:nmi' } });
    expect((await call('GET', `${FICS}/kube-nmi?${API}`)).body).toEqual(updated.body);
    expect((await call('GET', `${FICS}?${API}`)).body).toEqual({ value: [updated.body] });
    expect(store.getIdentity(UAMI)?.federatedIdentityCredentials).toEqual([{ name: 'kube-nmi', issuer: ISSUER, subject: 'system:serviceaccount:pod-identity:nmi', audiences: ['api://AzureADTokenExchange'] }]);

    expect((await call('DELETE', `${FICS}/kube-nmi?${API}`)).status).toBe(200);
    expect((await call('DELETE', `${FICS}/kube-nmi?${API}`)).status).toBe(204);
    expect((await call('GET', `${FICS}?${API}`)).body).toEqual({ value: [] });
    // No empty list is left behind on the identity.
    expect(store.getIdentity(UAMI)).not.toHaveProperty('federatedIdentityCredentials');
  });

  it('answers 404 for a missing credential and for a missing identity', async () => {
    const missing = await call('GET', `${FICS}/nope?${API}`);
    expect(missing.status).toBe(404);
    expect(errorOf(missing)).toEqual({
      code: 'ResourceNotFound',
      message: "The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/app/federatedIdentityCredentials/nope' under resource group 'rg-ids' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    });
    const orphan = await call('PUT', `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ghost/federatedIdentityCredentials/fic?${API}`, body('s'));
    expect(orphan.status).toBe(404);
    expect(errorOf(orphan)).toEqual({ code: 'NotFound', message: 'The parent user-assigned identity does not exist.' });
  });

  it('deletes the credentials with their identity', async () => {
    await call('PUT', `${FICS}/kube-nmi?${API}`, body('s'));
    expect((await call('DELETE', `${UAMI}?${API}`)).status).toBe(200);
    await call('PUT', `${UAMI}?${API}`, { location: 'westeurope' });
    expect((await call('GET', `${FICS}?${API}`)).body).toEqual({ value: [] });
  });

  it('refuses api-versions before 2023-01-31 with NoRegisteredProviderFound, naming the identity’s region', async () => {
    const old = await call('GET', `${FICS}?api-version=2022-01-31-preview`);
    expect(old.status).toBe(400);
    expect(errorOf(old).code).toBe('NoRegisteredProviderFound');
    expect(errorOf(old).message).toMatch(/^No registered resource provider found for location 'westeurope' and API version '2022-01-31-preview' for type 'userAssignedIdentities\/federatedIdentityCredentials'/);
  });

  it('refuses PATCH on a credential and writes to the list', async () => {
    expect((await call('PATCH', `${FICS}/x?${API}`, body('s'))).status).toBe(405);
    expect((await call('PUT', `${FICS}?${API}`, body('s'))).status).toBe(405);
  });

  describe('with RBAC enforced', () => {
    const assign = (role: string): void => {
      store.putRoleAssignment({
        id: `${RG}/providers/Microsoft.Authorization/roleAssignments/${role}`,
        name: role,
        scope: RG,
        roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${role}`,
        principalId: CALLER.oid,
        principalType: 'ServicePrincipal',
        createdOn: '2026-01-01T00:00:00Z',
      });
    };

    beforeEach(() => {
      deps.enforceRbac = true;
    });

    it('refuses callers without a role, naming the federatedIdentityCredentials action', async () => {
      const write = await call('PUT', `${FICS}/kube-nmi?${API}`, body('s'));
      expect(write.status).toBe(403);
      expect(errorOf(write).message).toContain(`perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write' over scope '${FICS}/kube-nmi'`);
      expect(errorOf(await call('GET', `${FICS}?${API}`)).message).toContain("'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/read'");
    });

    it('lets a Managed Identity Contributor write, read and delete; a Reader only read', async () => {
      assign(ROLE_IDS.reader);
      expect((await call('GET', `${FICS}?${API}`)).status).toBe(200);
      expect((await call('PUT', `${FICS}/kube-nmi?${API}`, body('s'))).status).toBe(403);
      assign(ROLE_IDS.managedIdentityContributor);
      expect((await call('PUT', `${FICS}/kube-nmi?${API}`, body('s'))).status).toBe(201);
      expect((await call('DELETE', `${FICS}/kube-nmi?${API}`)).status).toBe(200);
    });
  });
});
