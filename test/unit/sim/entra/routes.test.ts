import { createPrivateKey, randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateThumbprints, createSelfSignedCertificate } from '../../../../src/lib/pki.ts';
import { entraRoutes } from '../../../../src/sim/entra/index.ts';
import { JWT_BEARER_ASSERTION_TYPE } from '../../../../src/sim/entra/token-request.ts';
import { SimStore } from '../../../../src/sim/state/store.ts';
import { TokenIssuer } from '../../../../src/sim/tokens/issuer.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SECRET_APP = { appId: '11111111-1111-4111-8111-111111111111', objectId: 'a1111111-1111-4111-8111-111111111111' };
const CERT_APP = { appId: '22222222-2222-4222-8222-222222222222', objectId: 'a2222222-2222-4222-8222-222222222222' };
const SECRET = 'Zx8Q~not-a-real-secret';
const certificate = createSelfSignedCertificate('cert-app');
// inject() sends `Host: localhost:80`; the public URL is what the simulator would advertise.
const HOST = 'localhost:80';
const FORM = { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' };

let app: FastifyInstance;
beforeAll(async () => {
  const store = new SimStore(TENANT);
  store.putServicePrincipal({ ...SECRET_APP, tenantId: TENANT, displayName: 'secret-app', secrets: ['old-secret', SECRET], certificatesPem: [] });
  store.putServicePrincipal({ ...CERT_APP, tenantId: TENANT, displayName: 'cert-app', secrets: [], certificatesPem: [certificate.certPem] });
  app = Fastify();
  await app.register(entraRoutes, { store, issuer: TokenIssuer.create(), publicUrl: () => 'https://127.0.0.1:9443', logger: pino({ level: 'silent' }) });
});
afterAll(() => app.close());

const post = (url: string, fields: Record<string, string>) => app.inject({ method: 'POST', url, headers: FORM, payload: new URLSearchParams(fields).toString() });

async function jwks(): Promise<JSONWebKeySet> {
  const config = (await app.inject({ url: `/${TENANT}/v2.0/.well-known/openid-configuration` })).json<{ jwks_uri: string }>();
  return (await app.inject({ url: new URL(config.jwks_uri).pathname })).json<JSONWebKeySet>();
}

function certificateAssertion(audience: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ aud: audience, iss: CERT_APP.appId, sub: CERT_APP.appId, jti: randomUUID(), nbf: now, exp: now + 600 })
    .setProtectedHeader({ alg: 'PS256', typ: 'JWT', 'x5t#S256': certificateThumbprints(certificate.certPem).sha256 })
    .sign(createPrivateKey(certificate.keyPem));
}

describe('discovery', () => {
  it('v2 OpenID configuration: what MSAL requires, on the host the client called', async () => {
    const response = await app.inject({ url: `/${TENANT}/v2.0/.well-known/openid-configuration` });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      issuer: `http://${HOST}/${TENANT}/v2.0`,
      authorization_endpoint: `http://${HOST}/${TENANT}/oauth2/v2.0/authorize`,
      token_endpoint: `http://${HOST}/${TENANT}/oauth2/v2.0/token`,
      jwks_uri: `http://${HOST}/${TENANT}/discovery/v2.0/keys`,
    });
  });

  it('v1 OpenID configuration names the v1 token issuer', async () => {
    const response = await app.inject({ url: `/${TENANT}/.well-known/openid-configuration` });
    expect(response.json()).toMatchObject({ issuer: `https://sts.windows.net/${TENANT}/`, token_endpoint: `http://${HOST}/${TENANT}/oauth2/token` });
  });

  it('accepts the tenant’s domain form and refuses unknown tenants with AADSTS90002', async () => {
    expect((await app.inject({ url: '/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration' })).json()).toMatchObject({ token_endpoint: `http://${HOST}/${TENANT}/oauth2/v2.0/token` });
    const unknown = await app.inject({ url: '/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ error: 'invalid_tenant', error_codes: [90002] });
  });

  it('publishes the signing keys for the tenant and for common', async () => {
    const keys = await jwks();
    expect(keys.keys[0]).toMatchObject({ kty: 'RSA', use: 'sig', alg: 'RS256' });
    expect((await app.inject({ url: '/common/discovery/v2.0/keys' })).json()).toEqual(keys);
  });

  it('answers instance discovery for its own host', async () => {
    const response = await app.inject({ url: `/common/discovery/instance?api-version=1.1&authorization_endpoint=https://${HOST}/${TENANT}/oauth2/v2.0/authorize` });
    expect(response.json()).toEqual({
      tenant_discovery_endpoint: `http://${HOST}/${TENANT}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      // The URL's host: the default port disappears.
      metadata: [{ preferred_network: 'localhost', preferred_cache: 'localhost', aliases: ['localhost'] }],
    });
  });
});

describe('token endpoints', () => {
  it('v2 with a secret: numeric expiry, a token verifiable with the published JWKS', async () => {
    const response = await post(`/${TENANT}/oauth2/v2.0/token?client-request-id=abc`, {
      grant_type: 'client_credentials',
      client_id: SECRET_APP.appId,
      scope: 'https://management.azure.com/.default',
      client_secret: SECRET,
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['client-request-id']).toBe('abc');
    const body = response.json<{ access_token: string; expires_in: number; ext_expires_in: number; token_type: string }>();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599 });
    const { payload, protectedHeader } = await jwtVerify(body.access_token, createLocalJWKSet(await jwks()), { audience: 'https://management.azure.com' });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload).toMatchObject({ iss: `https://sts.windows.net/${TENANT}/`, tid: TENANT, appid: SECRET_APP.appId, appidacr: '1', oid: SECRET_APP.objectId, sub: SECRET_APP.objectId });
  });

  it('v1 with a secret: string values and the resource echoed', async () => {
    const response = await post(`/${TENANT}/oauth2/token`, {
      grant_type: 'client_credentials',
      client_id: SECRET_APP.appId,
      resource: 'https://management.core.windows.net/',
      client_secret: SECRET,
    });
    const body = response.json<Record<string, unknown>>();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: '3599', resource: 'https://management.core.windows.net/' });
    expect(Object.values(body).every((value) => typeof value === 'string')).toBe(true);
  });

  it.each([
    ['v2', `https://${HOST}/${TENANT}/oauth2/v2.0/token`],
    ['v1', `https://${HOST}/${TENANT}/oauth2/token`],
  ])('%s with a certificate assertion: appidacr 2', async (version, audience) => {
    const fields = {
      grant_type: 'client_credentials',
      client_id: CERT_APP.appId,
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: await certificateAssertion(audience),
      ...(version === 'v2' ? { scope: 'https://management.azure.com/.default' } : { resource: 'https://management.azure.com/' }),
    };
    const response = await post(version === 'v2' ? `/${TENANT}/oauth2/v2.0/token` : `/${TENANT}/oauth2/token`, fields);
    expect(response.statusCode).toBe(200);
    const { payload } = await jwtVerify(response.json<{ access_token: string }>().access_token, createLocalJWKSet(await jwks()));
    expect(payload).toMatchObject({ appid: CERT_APP.appId, appidacr: '2', oid: CERT_APP.objectId });
  });

  it.each<[string, string, Record<string, string>, number, string, number]>([
    ['wrong secret', TENANT, { client_id: SECRET_APP.appId, scope: 'x/.default', client_secret: 'wrong' }, 401, 'invalid_client', 7000215],
    ['unknown app', TENANT, { client_id: '99999999-9999-4999-8999-999999999999', scope: 'x/.default', client_secret: SECRET }, 400, 'unauthorized_client', 700016],
    ['unknown tenant', '99999999-0000-0000-0000-000000000000', { client_id: SECRET_APP.appId, scope: 'x/.default', client_secret: SECRET }, 400, 'invalid_request', 90002],
    ['secret to a certificate-only app', TENANT, { client_id: CERT_APP.appId, scope: 'x/.default', client_secret: SECRET }, 401, 'invalid_client', 7000215],
    ['missing scope', TENANT, { client_id: SECRET_APP.appId, client_secret: SECRET }, 400, 'invalid_request', 900144],
  ])('refuses %s', async (_name, tenant, fields, status, error, code) => {
    const response = await post(`/${tenant}/oauth2/v2.0/token`, { grant_type: 'client_credentials', ...fields });
    expect(response.statusCode).toBe(status);
    const body = response.json<Record<string, unknown>>();
    expect(body).toMatchObject({ error, error_codes: [code], error_uri: `http://${HOST}/error?code=${code}` });
    expect(String(body['error_description'])).toMatch(new RegExp(`^AADSTS${code}: .+\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [0-9a-f-]{36}\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`));
    expect(body['trace_id']).toBe(response.headers['x-ms-request-id']);
  });

  it('refuses an assertion signed for another client’s certificate with AADSTS700027', async () => {
    const stranger = createSelfSignedCertificate('stranger');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ aud: `https://${HOST}/${TENANT}/oauth2/v2.0/token`, iss: CERT_APP.appId, sub: CERT_APP.appId, nbf: now, exp: now + 600 })
      .setProtectedHeader({ alg: 'PS256', 'x5t#S256': certificateThumbprints(certificate.certPem).sha256 })
      .sign(createPrivateKey(stranger.keyPem));
    const response = await post(`/${TENANT}/oauth2/v2.0/token`, {
      grant_type: 'client_credentials',
      client_id: CERT_APP.appId,
      scope: 'x/.default',
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: forged,
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: 'invalid_client', error_codes: [700027] });
  });

  it('reads a JSON body as a request without parameters (AADSTS900144 grant_type)', async () => {
    const response = await app.inject({ method: 'POST', url: `/${TENANT}/oauth2/v2.0/token`, payload: { grant_type: 'client_credentials' } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error_codes: [900144] });
    expect(response.json<{ error_description: string }>().error_description).toContain("'grant_type'");
  });
});
