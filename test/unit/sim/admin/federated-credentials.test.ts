import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { adminRoutes } from '../../../../src/sim/admin/index.ts';
import { SimSettings } from '../../../../src/sim/admin/settings.ts';
import { parseStateData } from '../../../../src/sim/admin/state-schema.ts';
import { LroPollLog } from '../../../../src/sim/arm/poll-log.ts';
import { FaultInjector } from '../../../../src/sim/faults/injector.ts';
import { RequestLog } from '../../../../src/sim/http/request-log.ts';
import { SimStore } from '../../../../src/sim/state/store.ts';

const TENANT = '72f988bf-0000-4000-8000-000000000000';
const UAMI = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app';
const ISSUER = 'https://127.0.0.1:6443';

describe('federated credentials in a state file', () => {
  it('are read with the identity, audiences defaulting to api://AzureADTokenExchange, and survive a snapshot', () => {
    const state = parseStateData({ identities: [{ id: UAMI, federatedIdentityCredentials: [{ name: 'nmi', issuer: ISSUER, subject: 'system:serviceaccount:kube-system:nmi' }] }] }, TENANT);
    expect(state.identities?.[0]?.federatedIdentityCredentials).toEqual([{ name: 'nmi', issuer: ISSUER, subject: 'system:serviceaccount:kube-system:nmi', audiences: ['api://AzureADTokenExchange'] }]);
    const store = new SimStore(TENANT);
    store.load(state);
    expect(store.snapshot().identities[0]?.federatedIdentityCredentials).toHaveLength(1);
    // Identities without credentials keep their old shape.
    const bare = parseStateData({ identities: [{ id: UAMI }] }, TENANT);
    expect(bare.identities?.[0]).not.toHaveProperty('federatedIdentityCredentials');
  });

  it('lists every problem: names, non-https issuers, missing subjects, duplicates, more than 20', () => {
    const many = Array.from({ length: 21 }, (_, index) => ({ name: `fic-${index}`, issuer: ISSUER, subject: `s-${index}` }));
    const input = {
      identities: [
        {
          id: UAMI,
          federatedIdentityCredentials: [
            { name: 'x', issuer: 'http://plain.example', extra: true },
            { name: 'twin-a', issuer: ISSUER, subject: 'same' },
            { name: 'twin-b', issuer: ISSUER, subject: 'same' },
          ],
        },
        { id: `${UAMI}-2`, federatedIdentityCredentials: many },
      ],
    };
    expect(() => parseStateData(input, TENANT)).toThrow(
      expect.objectContaining({
        problems: expect.arrayContaining([
          expect.stringMatching(/^identities\[0\]\.federatedIdentityCredentials\[0\]\.extra: unknown field/),
          expect.stringMatching(/^identities\[0\]\.federatedIdentityCredentials\[0\]\.name: "x" is not a credential name/),
          'identities[0].federatedIdentityCredentials[0].issuer: "http://plain.example" is not an https URL',
          'identities[0].federatedIdentityCredentials[0].subject: is required',
          expect.stringMatching(/^identities\[0\]\.federatedIdentityCredentials: issuer .* and subject "same" are used by two credentials$/),
          'identities[1].federatedIdentityCredentials: at most 20 credentials per identity (Azure\'s limit); got 21',
        ]) as unknown,
      }) as Error,
    );
  });
});

describe('POST /seed/federated-credential', () => {
  async function admin() {
    const store = new SimStore(TENANT);
    store.load({ identities: [{ id: UAMI, name: 'app', subscriptionId: 's', resourceGroup: 'rg', location: 'eastus', tags: {}, clientId: 'c', principalId: 'p', tenantId: TENANT }] });
    const app = Fastify();
    await app.register(adminRoutes, { store, faults: new FaultInjector(), requestLog: new RequestLog(), pollLog: new LroPollLog(), settings: new SimSettings() });
    const seed = async (body: Record<string, unknown>) => {
      const response = await app.inject({ method: 'POST', url: '/seed/federated-credential', payload: body });
      return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
    };
    return { store, app, seed };
  }

  it('adds a credential to an existing identity; refuses unknown identities, taken names and duplicate pairs', async () => {
    const { store, app, seed } = await admin();
    const created = await seed({ identityId: UAMI.toLowerCase(), name: 'nmi', issuer: ISSUER, subject: 'system:serviceaccount:kube-system:nmi' });
    expect(created).toEqual({
      status: 201,
      body: { id: `${UAMI}/federatedIdentityCredentials/nmi`, identityId: UAMI, name: 'nmi', issuer: ISSUER, subject: 'system:serviceaccount:kube-system:nmi', audiences: ['api://AzureADTokenExchange'] },
    });
    expect(store.listFederatedCredentials(UAMI)).toHaveLength(1);
    expect((await seed({ identityId: `${UAMI}-missing`, name: 'nmi', issuer: ISSUER, subject: 's' })).status).toBe(404);
    expect((await seed({ identityId: UAMI, name: 'NMI', issuer: ISSUER, subject: 'other' })).status).toBe(409);
    const duplicate = await seed({ identityId: UAMI, name: 'nmi-2', issuer: ISSUER, subject: 'system:serviceaccount:kube-system:nmi' });
    expect(duplicate.status).toBe(400);
    expect((await seed({ identityId: UAMI, name: 'bad', issuer: 'http://x', subject: 's', audiences: [] })).body).toMatchObject({
      error: { code: 'InvalidInput', problems: ['issuer: "http://x" is not an https URL', 'audiences: must name at least one audience'] },
    });
    await app.close();
  });
});
