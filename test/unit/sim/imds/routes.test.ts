import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { imdsRoutes, type ImdsDeps } from '../../../../src/sim/imds/index.ts';
import { TokenIssuer } from '../../../../src/sim/tokens/issuer.ts';
import { alpha, beta, gamma, SYSTEM, TENANT, world } from './world.ts';

const ARM = 'https://management.azure.com/';
const tokenUrl = (query: string): string => `/metadata/identity/oauth2/token?api-version=2018-02-01&${query}`;
const metadata = { metadata: 'true' };

let apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.map((app) => app.close()));
  apps = [];
});

async function imds(nodeName: string, options: { now?: () => number; limits?: ImdsDeps['limits']; slowMs?: number } = {}): Promise<{ app: FastifyInstance; deps: ImdsDeps; issuer: TokenIssuer }> {
  const issuer = TokenIssuer.create(options.now);
  const deps: ImdsDeps = { store: world(), issuer, nodeName, limits: options.limits ?? false, logger: pino({ level: 'silent' }) };
  const app = Fastify();
  // A slow stage after admission: requests overlap, as they would against a busy IMDS.
  const slowMs = options.slowMs;
  if (slowMs !== undefined) app.addHook('preHandler', async () => sleep(slowMs));
  await app.register(imdsRoutes, deps);
  apps.push(app);
  return { app, deps, issuer };
}

describe('IMDS token endpoint', () => {
  it('returns IMDS’s all-strings body, a token for the named identity, and the resource byte-for-byte', async () => {
    // A fixed clock: with the real one, issuing and answering can straddle a second and expires_in is 86398.
    const fixed = Date.now();
    const { app, issuer } = await imds('node-one', { now: () => fixed });
    const response = await app.inject({ url: tokenUrl(`resource=${encodeURIComponent(ARM)}&client_id=${beta.clientId}`), headers: metadata });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = response.json<Record<string, unknown>>();
    expect(Object.keys(body).sort()).toEqual(['access_token', 'client_id', 'expires_in', 'expires_on', 'ext_expires_in', 'not_before', 'resource', 'token_type']);
    expect(Object.values(body).every((value) => typeof value === 'string')).toBe(true);
    expect(body).toMatchObject({ client_id: beta.clientId, resource: ARM, token_type: 'Bearer', expires_in: '86399' });
    const claims = await issuer.verify(String(body['access_token']), [ARM]);
    expect(claims).toMatchObject({
      aud: ARM,
      iss: `https://sts.windows.net/${TENANT}/`,
      tid: TENANT,
      appid: beta.clientId,
      appidacr: '2',
      idtyp: 'app',
      oid: beta.principalId,
      sub: beta.principalId,
      xms_mirid: beta.id,
      ver: '1.0',
    });
    expect(claims.exp).toBe(Number(body['expires_on']));
    expect(claims.nbf).toBe(Number(body['not_before']));
  });

  it.each([
    ['object_id', `object_id=${alpha.principalId}`, alpha],
    ['msi_res_id', `msi_res_id=${encodeURIComponent(alpha.id)}`, alpha],
    ['mi_res_id (older spelling)', `mi_res_id=${encodeURIComponent(beta.id.toLowerCase())}`, beta],
  ])('selects by %s', async (_name, selector, expected) => {
    const { app } = await imds('node-one');
    const response = await app.inject({ url: `//metadata/identity/oauth2/token/?api-version=2018-02-01&resource=x&${selector}`, headers: metadata });
    expect(response.statusCode).toBe(200);
    expect(decodeJwt(response.json<{ access_token: string }>().access_token)).toMatchObject({ appid: expected.clientId, xms_mirid: expected.id });
  });

  it('hands out the scale set’s identities on each of its instances', async () => {
    const { app } = await imds('aks-pool-vmss000001');
    const response = await app.inject({ url: tokenUrl('resource=x'), headers: metadata });
    expect(response.statusCode).toBe(200);
    const claims = decodeJwt(response.json<{ access_token: string }>().access_token);
    expect(claims).toMatchObject({ appid: beta.clientId, xms_mirid: beta.id });
    expect(String(claims['xms_az_rid'])).toMatch(/virtualMachineScaleSets\/aks-pool-vmss$/);
  });

  it('defaults to the system-assigned identity, whose xms_mirid is the VM', async () => {
    const { app } = await imds('node-sys');
    const response = await app.inject({ url: tokenUrl('resource=x'), headers: metadata });
    const claims = decodeJwt(response.json<{ access_token: string }>().access_token);
    expect(claims).toMatchObject({ appid: SYSTEM.clientId, oid: SYSTEM.principalId });
    expect(String(claims['xms_mirid'])).toMatch(/virtualMachines\/node-sys$/);
  });

  it.each([
    ['no Metadata header (the SDK probe)', '/metadata/identity/oauth2/token', {}, 400, { error: 'invalid_request', error_description: 'Required metadata header not specified' }],
    ['Metadata: false', tokenUrl('resource=x'), { metadata: 'false' }, 400, { error: 'invalid_request', error_description: 'Required metadata header not specified' }],
    ['X-Forwarded-For', tokenUrl('resource=x'), { ...metadata, 'x-forwarded-for': '10.0.0.1' }, 400, { error: 'invalid_request' }],
    ['no api-version', '/metadata/identity/oauth2/token?resource=x', metadata, 400, { error: 'Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds' }],
    ['no resource', '/metadata/identity/oauth2/token?api-version=2018-02-01', metadata, 400, { error: 'invalid_request', error_description: 'Required audience parameter not specified' }],
    ['an identity not on this VM', tokenUrl(`resource=x&client_id=${gamma.clientId}`), metadata, 400, { error: 'invalid_request', error_description: 'Identity not found' }],
    [
      'several identities, none named',
      tokenUrl('resource=x'),
      metadata,
      400,
      { error: 'invalid_request', error_description: 'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request' },
    ],
    ['POST', tokenUrl('resource=x'), metadata, 405, { error: 'Bad request. Only GET requests are supported.' }],
  ])('refuses %s', async (name, url, headers, status, body) => {
    const { app } = await imds('node-one');
    const response = await app.inject({ method: name === 'POST' ? 'POST' : 'GET', url, headers });
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.json()).toMatchObject(body);
  });

  it('answers "Identity not found" on a VM without identities, and on an unknown node', async () => {
    for (const node of ['node-bare', 'no-such-node']) {
      const { app } = await imds(node);
      const response = await app.inject({ url: tokenUrl('resource=x'), headers: metadata });
      expect([response.statusCode, response.json()]).toEqual([400, { error: 'invalid_request', error_description: 'Identity not found' }]);
    }
  });

  it('follows the state: an identity removed from the VM is refused on the next request', async () => {
    const { app, deps } = await imds('node-one');
    const url = tokenUrl(`resource=x&client_id=${alpha.clientId}`);
    expect((await app.inject({ url, headers: metadata })).statusCode).toBe(200);
    const vm = deps.store.findComputeByNodeName('node-one')?.resource;
    if (vm === undefined) throw new Error('fixture');
    vm.identity.userAssignedIdentities = [beta.id];
    expect((await app.inject({ url, headers: metadata })).json()).toEqual({ error: 'invalid_request', error_description: 'Identity not found' });
  });

  it('caches per identity and resource: the same token with a decreasing expires_in', async () => {
    let now = Date.UTC(2026, 0, 1);
    const { app } = await imds('node-one', { now: () => now });
    const get = async (resource: string) => (await app.inject({ url: tokenUrl(`resource=${encodeURIComponent(resource)}&client_id=${alpha.clientId}`), headers: metadata })).json<Record<string, string>>();
    const first = await get(ARM);
    now += 14_000;
    const second = await get(ARM);
    expect(second.access_token).toBe(first.access_token);
    expect(second.expires_on).toBe(first.expires_on);
    expect([first.expires_in, second.expires_in]).toEqual(['86399', '86385']);
    // Another spelling of the resource is another resource (aud is taken verbatim).
    const other = await get('https://management.azure.com');
    expect(other.access_token).not.toBe(first.access_token);
    expect(decodeJwt(other.access_token ?? '').aud).toBe('https://management.azure.com');
  });
});

describe('IMDS limits', () => {
  it('answers 429 to the sixth of six concurrent identity requests (max 5 concurrent)', async () => {
    const { app } = await imds('node-two', { limits: { requestsPerSecond: 1000, maxConcurrent: 5 }, slowMs: 200 });
    const responses = await Promise.all(Array.from({ length: 6 }, () => app.inject({ url: tokenUrl('resource=x'), headers: metadata })));
    const statuses = responses.map((response) => response.statusCode).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const refused = responses.find((response) => response.statusCode === 429);
    expect(refused?.json()).toMatchObject({ error: 'too_many_requests' });
    // Once they are done, requests are admitted again.
    expect((await app.inject({ url: tokenUrl('resource=x'), headers: metadata })).statusCode).toBe(200);
  });

  it('answers 429 beyond the per-second rate, and not at all once limits are switched off at run time', async () => {
    const { app, deps } = await imds('node-two', { limits: { requestsPerSecond: 3, maxConcurrent: 5 } });
    const burst = async (): Promise<number[]> => {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i += 1) statuses.push((await app.inject({ url: tokenUrl('resource=x'), headers: metadata })).statusCode);
      return statuses;
    };
    expect(await burst()).toEqual([200, 200, 200, 429, 429]);
    deps.limits = false;
    expect(await burst()).toEqual([200, 200, 200, 200, 200]);
  });

  it('does not throttle instance metadata', async () => {
    const { app } = await imds('node-two', { limits: { requestsPerSecond: 1, maxConcurrent: 1 } });
    for (let i = 0; i < 3; i += 1) {
      expect((await app.inject({ url: '/metadata/instance?api-version=2021-02-01', headers: metadata })).statusCode).toBe(200);
    }
  });
});

describe('IMDS instance metadata and other paths', () => {
  it('serves /metadata/instance and route filtering with format=text', async () => {
    const { app } = await imds('node-one');
    const full = await app.inject({ url: '/metadata/instance?api-version=2021-02-01', headers: metadata });
    expect(full.json()).toMatchObject({ compute: { name: 'node-one', location: 'westeurope' }, network: { interface: [{ ipv6: { ipAddress: [] } }] } });
    const location = await app.inject({ url: '/metadata/instance/compute/location?api-version=2021-02-01&format=text', headers: metadata });
    expect([location.statusCode, location.headers['content-type'], location.body]).toEqual([200, 'text/plain; charset=utf-8', 'westeurope']);
  });

  it.each([
    ['/metadata/instance?api-version=2021-02-01', {}, 400, { error: 'Bad request. Required metadata header not specified' }],
    ['/metadata/instance', metadata, 400, { error: 'Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds' }],
    ['/metadata/instance/compute/nothing?api-version=2021-02-01', metadata, 404, { error: 'Not found' }],
    ['/metadata/attested/document?api-version=2021-02-01', metadata, 404, { error: 'Not found' }],
    ['/latest/meta-data/', {}, 404, { error: 'Not found' }],
  ])('%s → %i', async (url, headers, status, body) => {
    const { app } = await imds('node-one');
    const response = await app.inject({ url, headers });
    expect(response.statusCode).toBe(status);
    expect(response.json()).toMatchObject(body);
  });

  it('lists API versions', async () => {
    const { app } = await imds('node-one');
    const versions = (await app.inject({ url: '/metadata/versions', headers: metadata })).json<{ apiVersions: string[] }>().apiVersions;
    expect(versions).toContain('2018-02-01');
    expect(versions[0]).toBe('2017-03-01');
  });
});
