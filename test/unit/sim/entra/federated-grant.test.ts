import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entraRoutes } from '../../../../src/sim/entra/index.ts';
import { OidcKeyCache } from '../../../../src/sim/entra/oidc-key-cache.ts';
import { JWT_BEARER_ASSERTION_TYPE } from '../../../../src/sim/entra/token-request.ts';
import type { UserAssignedIdentity } from '../../../../src/sim/state/model.ts';
import { SimStore } from '../../../../src/sim/state/store.ts';
import { TokenIssuer } from '../../../../src/sim/tokens/issuer.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const ISSUER = 'https://127.0.0.1:6443';
const UNREACHABLE = 'https://127.0.0.1:1';
const NMI = 'system:serviceaccount:kube-system:nmi';
const EXCHANGE = 'api://AzureADTokenExchange';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const IDENTITY: UserAssignedIdentity = {
  id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/federated-app',
  name: 'federated-app',
  subscriptionId: 's',
  resourceGroup: 'rg',
  location: 'westeurope',
  tags: {},
  clientId: 'fede0000-0000-4000-8000-000000000001',
  principalId: 'fede0000-0b0b-4000-8000-000000000001',
  tenantId: TENANT,
  federatedIdentityCredentials: [
    { name: 'nmi', issuer: ISSUER, subject: NMI, audiences: [EXCHANGE] },
    { name: 'elsewhere', issuer: UNREACHABLE, subject: NMI, audiences: [EXCHANGE] },
  ],
};
const BARE: UserAssignedIdentity = { ...IDENTITY, id: `${IDENTITY.id}-bare`, name: 'bare', clientId: 'fede0000-0000-4000-8000-000000000002', federatedIdentityCredentials: [] };

const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
let jwks: JSONWebKeySet;
let app: FastifyInstance;
let simKeys: ReturnType<typeof createLocalJWKSet>;
const fetched: string[] = [];

beforeAll(async () => {
  jwks = { keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'cluster-key', alg: 'RS256', use: 'sig' }] };
  const store = new SimStore(TENANT);
  store.putIdentity(structuredClone(IDENTITY));
  store.putIdentity(structuredClone(BARE));
  const oidcKeys = new OidcKeyCache({
    fetchKeys: (issuer) => {
      fetched.push(issuer);
      return issuer === ISSUER ? Promise.resolve(jwks) : Promise.reject(new Error(`connect ECONNREFUSED ${issuer}`));
    },
  });
  const issuer = TokenIssuer.create();
  simKeys = createLocalJWKSet(await issuer.jwks());
  app = Fastify();
  await app.register(entraRoutes, { store, issuer, publicUrl: () => 'https://127.0.0.1:9443', oidcKeys, logger: pino({ level: 'silent' }) });
});
afterAll(() => app.close());

interface AssertionOptions {
  readonly claims?: Record<string, unknown>;
  readonly key?: KeyObject;
  readonly kid?: string | null;
}

function assertion(options: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const kid = options.kid === undefined ? 'cluster-key' : options.kid;
  return new SignJWT({ iss: ISSUER, sub: NMI, aud: [EXCHANGE], iat: now, nbf: now, exp: now + 3600, ...options.claims })
    .setProtectedHeader({ alg: 'RS256', ...(kid !== null ? { kid } : {}) })
    .sign(options.key ?? signing.privateKey);
}

async function exchange(clientAssertion: string, fields: Record<string, string> = {}, path = `/${TENANT}/oauth2/v2.0/token`) {
  const form = { grant_type: 'client_credentials', client_id: IDENTITY.clientId, scope: 'https://vault.azure.net/.default', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: clientAssertion, ...fields };
  const response = await app.inject({ method: 'POST', url: path, headers: FORM, payload: new URLSearchParams(form).toString() });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

describe('the federated client-assertion grant', () => {
  it('exchanges a service-account token for a token naming the identity as its IMDS tokens do', async () => {
    const response = await exchange(await assertion());
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: expect.any(Number) as number });
    expect(response.body['expires_in']).toBeGreaterThan(86_000);
    const { payload } = await jwtVerify(String(response.body['access_token']), simKeys);
    expect(payload).toMatchObject({
      aud: 'https://vault.azure.net',
      tid: TENANT,
      iss: `https://sts.windows.net/${TENANT}/`,
      appid: IDENTITY.clientId,
      azp: IDENTITY.clientId,
      oid: IDENTITY.principalId,
      sub: IDENTITY.principalId,
      xms_mirid: IDENTITY.id,
      idtyp: 'app',
    });
    expect(payload['xms_az_rid']).toBeUndefined();
  });

  it('works on the v1 endpoint too (resource, string values)', async () => {
    const response = await exchange(await assertion(), { resource: 'https://management.azure.com/' }, `/${TENANT}/oauth2/token`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ resource: 'https://management.azure.com/', expires_on: expect.any(String) as string });
  });

  it.each([
    ['a malformed assertion', () => Promise.resolve('not.a.jwt'), 400, 'invalid_request', 50027],
    ['an issuer no credential names', () => assertion({ claims: { iss: 'https://evil.example' } }), 401, 'invalid_client', 700211],
    ['another subject', () => assertion({ claims: { sub: 'system:serviceaccount:default:app' } }), 401, 'invalid_client', 700213],
    ['the subject in another case', () => assertion({ claims: { sub: NMI.toUpperCase() } }), 401, 'invalid_client', 7002138],
    ['another audience', () => assertion({ claims: { aud: 'https://kubernetes.default.svc' } }), 401, 'invalid_client', 700212],
    ['an expired token', () => assertion({ claims: { nbf: 1_000, iat: 1_000, exp: 4_600 } }), 401, 'invalid_client', 700024],
    ['a token not yet valid', () => assertion({ claims: { nbf: Math.floor(Date.now() / 1000) + 3_600 } }), 401, 'invalid_client', 700024],
    ['a signature by another key under the issuer’s kid', () => assertion({ key: stranger.privateKey }), 401, 'invalid_client', 700027],
    ['a kid the issuer does not publish', () => assertion({ kid: 'rotated-away' }), 401, 'invalid_client', 7000272],
    ['an unreachable issuer', () => assertion({ claims: { iss: UNREACHABLE } }), 400, 'invalid_request', 90061],
  ])('refuses %s', async (_name, build, status, error, code) => {
    const response = await exchange(await build());
    expect(response.status).toBe(status);
    expect(response.body).toMatchObject({ error, error_codes: [code] });
    expect(String(response.body['error_description'])).toMatch(new RegExp(`^AADSTS${code}: `));
  });

  it('names the unknown kid and the issuer (AADSTS7000272)', async () => {
    const response = await exchange(await assertion({ kid: 'rotated-away' }));
    expect(String(response.body['error_description'])).toMatch(
      /^AADSTS7000272: The certificate with identifier rotated-away used to sign the federated credential could not be found in the metadata of identity provider https:\/\/127\.0\.0\.1:6443\. /,
    );
  });

  it('never contacts an issuer no credential trusts', async () => {
    await exchange(await assertion({ claims: { iss: 'https://attacker.example' } }));
    expect(fetched).not.toContain('https://attacker.example');
  });

  it('an identity without federated credentials: AADSTS70025; a secret for an identity: AADSTS7000215', async () => {
    const bare = await exchange(await assertion(), { client_id: BARE.clientId });
    expect(bare).toMatchObject({ status: 401, body: { error: 'invalid_client', error_codes: [70025] } });
    expect(String(bare.body['error_description'])).toMatch(new RegExp(`^AADSTS70025: The client '${BARE.clientId}'\\(bare\\) has no configured federated identity credentials\\.`));
    const form = { grant_type: 'client_credentials', client_id: IDENTITY.clientId, scope: 'https://vault.azure.net/.default', client_secret: 'guess' };
    const secret = await app.inject({ method: 'POST', url: `/${TENANT}/oauth2/v2.0/token`, headers: FORM, payload: new URLSearchParams(form).toString() });
    expect(secret.json()).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
  });
});
