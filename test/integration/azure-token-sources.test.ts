/**
 * NMI's token clients against the Azure simulator: the IMDS client by every selector (and the VM's
 * default identity), IMDS refusals passed through, faults retried then reported as unavailable,
 * aborts honoured; service-principal tokens from a client secret and from a PKCS#12 certificate read
 * out of Secret data, Entra refusals with their AADSTS code, and auxiliary tenants.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ImdsTokenClient, type ImdsTokenClientOptions } from '../../src/azure/imds-token-client.ts';
import { Secret } from '../../src/azure/secret.ts';
import { readClientCertificate, readClientSecret } from '../../src/azure/service-principal.ts';
import { ServicePrincipalTokenClient, type ServicePrincipalTokenRequest } from '../../src/azure/service-principal-token-client.ts';
import { TokenRequestError } from '../../src/azure/token-errors.ts';
import { describeError, findInChain, RetryAfterError } from '../../src/lib/errors.ts';
import { createSelfSignedCertificate, toPkcs12 } from '../../src/lib/pki.ts';
import { startAzureSimulator, type AzureSimulator, type ImdsListener } from '../../src/sim/index.ts';
import type { UserAssignedIdentity, VirtualMachine } from '../../src/sim/state/model.ts';

const SUB = '3d1f6a0e-7c2b-4e5d-9f80-1a2b3c4d5e6f';
const RESOURCE = 'https://management.azure.com/';
const VM_ID = `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachines/vm-token-node`;
const IMDS_TOKEN_PATH = '/metadata/identity/oauth2/token';

function identity(name: string, n: number, tenantId: string): UserAssignedIdentity {
  return {
    id: `/subscriptions/${SUB}/resourcegroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    name,
    subscriptionId: SUB,
    resourceGroup: 'rg-identities',
    location: 'westeurope',
    tags: {},
    clientId: `${String(n).repeat(8)}-c1c1-4c1c-8c1c-000000000000`,
    principalId: `${String(n).repeat(8)}-0b0b-4b0b-8b0b-000000000000`,
    tenantId,
  };
}

const base64 = (value: string | Buffer): string => Buffer.from(value).toString('base64');

let sim: AzureSimulator;
let imds: ImdsListener;
let alpha: UserAssignedIdentity;
let beta: UserAssignedIdentity;
let gamma: UserAssignedIdentity;
const systemAssigned = { clientId: '9a9a0000-c1c1-4c1c-8c1c-000000000000', principalId: '9a9a0000-0b0b-4b0b-8b0b-000000000000' };
const secretApp = { appId: '5ec2e7a0-1111-4111-8111-aaaaaaaaaaaa', objectId: '5ec2e7a0-0b0b-4b0b-8b0b-aaaaaaaaaaaa', secret: 'Tok~sim.secret-value-42' };
const certApp = { appId: 'ce27a000-2222-4222-8222-bbbbbbbbbbbb', objectId: 'ce27a000-0b0b-4b0b-8b0b-bbbbbbbbbbbb' };
let certificateSecretData: Record<string, string>;
const clients: ImdsTokenClient[] = [];
const spClients: ServicePrincipalTokenClient[] = [];

beforeAll(async () => {
  // IMDS's own rate limit is not under test here: retries would otherwise race it.
  sim = await startAzureSimulator({ imdsLimits: false });
  const tenantId = sim.tenantId;
  alpha = identity('alpha', 1, tenantId);
  beta = identity('beta', 2, tenantId);
  gamma = identity('gamma', 3, tenantId);
  sim.store.addSubscription(SUB);
  for (const item of [alpha, beta, gamma]) sim.store.putIdentity(item);
  const vm: VirtualMachine = {
    kind: 'vm',
    id: VM_ID,
    name: 'vm-token-node',
    subscriptionId: SUB,
    resourceGroup: 'rg-nodes',
    location: 'westeurope',
    tags: {},
    vmSize: 'Standard_D2s_v3',
    provisioningState: 'Succeeded',
    vmId: '0f0f0f0f-0000-4000-8000-00000000000a',
    identity: { type: 'SystemAssigned, UserAssigned', systemAssigned: { ...systemAssigned, tenantId }, userAssignedIdentities: [alpha.id, beta.id] },
  };
  sim.store.putCompute(vm);

  const certificate = createSelfSignedCertificate('azure-token-sources cert app');
  sim.store.putServicePrincipal({ appId: secretApp.appId, objectId: secretApp.objectId, tenantId, displayName: 'secret app', secrets: [secretApp.secret], certificatesPem: [] });
  sim.store.putServicePrincipal({ appId: certApp.appId, objectId: certApp.objectId, tenantId, displayName: 'cert app', secrets: [], certificatesPem: [certificate.certPem] });
  certificateSecretData = { certificate: base64(toPkcs12(certificate, 'p12-password')), password: base64('p12-password') };

  imds = await sim.startImds('vm-token-node');
});

afterAll(async () => {
  await Promise.all([...clients, ...spClients].map((client) => client.close()));
  await sim.stop();
});

beforeEach(() => {
  sim.faults.clear();
});

function imdsClient(options: ImdsTokenClientOptions = {}): ImdsTokenClient {
  const client = new ImdsTokenClient({ endpoint: imds.url, retry: { baseDelayMs: 20, maxDelayMs: 50 }, ...options });
  clients.push(client);
  return client;
}

/** Token requests IMDS received since `seq`. */
function imdsAttempts(sinceSeq: number): number {
  return sim.requestLog.query({ service: 'imds', pathContains: IMDS_TOKEN_PATH, sinceSeq }).length;
}

const lastSeq = (): number => sim.requestLog.query({ limit: 1 })[0]?.seq ?? 0;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function tokenRequestError(promise: Promise<unknown>): Promise<TokenRequestError> {
  const error = await rejection(promise);
  if (!(error instanceof TokenRequestError)) throw new Error(`expected a TokenRequestError, got ${describeError(error)}`, { cause: error });
  return error;
}

describe('ImdsTokenClient', () => {
  it.each([
    ['client_id', () => ({ kind: 'client_id' as const, value: alpha.clientId }), () => alpha],
    ['object_id', () => ({ kind: 'object_id' as const, value: beta.principalId }), () => beta],
    ['resource_id (msi_res_id)', () => ({ kind: 'resource_id' as const, value: beta.id }), () => beta],
  ])('by %s: a token naming that identity, for the resource exactly as asked', async (_how, selector, expected) => {
    const want = expected();
    const since = lastSeq();
    const token = await imdsClient().getToken({ resource: RESOURCE, selector: selector() });
    expect(token.resource).toBe(RESOURCE);
    expect(token.clientId).toBe(want.clientId);
    const claims = decodeJwt(token.accessToken);
    expect(claims).toMatchObject({ aud: RESOURCE, tid: sim.tenantId, appid: want.clientId, oid: want.principalId, xms_mirid: want.id });
    expect(token.expiresOnMs).toBe((claims.exp ?? 0) * 1000);
    expect(token.notBeforeMs).toBe((claims.nbf ?? 0) * 1000);
    const [entry] = sim.requestLog.query({ service: 'imds', sinceSeq: since });
    const sent = selector();
    expect(entry?.query).toMatchObject({ 'api-version': '2018-02-01', resource: RESOURCE, [sent.kind === 'resource_id' ? 'msi_res_id' : sent.kind]: sent.value });
  });

  it('without a selector: the VM’s system-assigned identity', async () => {
    const token = await imdsClient().getToken({ resource: 'https://vault.azure.net' });
    expect(token).toMatchObject({ resource: 'https://vault.azure.net', clientId: systemAssigned.clientId });
    expect(decodeJwt(token.accessToken)).toMatchObject({ aud: 'https://vault.azure.net', appid: systemAssigned.clientId, oid: systemAssigned.principalId, xms_mirid: VM_ID });
  });

  it('an identity not on the VM is rejected at once with IMDS’s 400 "Identity not found" passed through', async () => {
    const since = lastSeq();
    const error = await tokenRequestError(imdsClient().getToken({ resource: RESOURCE, selector: { kind: 'client_id', value: gamma.clientId } }));
    expect(error).toMatchObject({ kind: 'rejected', code: 'PI_TOKEN_REJECTED', upstreamStatus: 400, upstreamError: 'invalid_request', upstreamDescription: 'Identity not found' });
    expect(error.context).toMatchObject({ endpoint: 'imds', clientId: gamma.clientId, resource: RESOURCE });
    expect(error.message).toContain(gamma.clientId);
    expect(imdsAttempts(since)).toBe(1);
  });

  it('IMDS failing with 500: three attempts, then unavailable with IMDS’s error', async () => {
    sim.faults.add({ service: 'imds', path: IMDS_TOKEN_PATH, action: { kind: 'status', status: 500 } });
    const retries: number[] = [];
    const since = lastSeq();
    const error = await tokenRequestError(imdsClient({ onRetry: (event) => retries.push(event.status ?? 0) }).getToken({ resource: RESOURCE, selector: { kind: 'client_id', value: alpha.clientId } }));
    expect(error).toMatchObject({ kind: 'unavailable', code: 'PI_TOKEN_UNAVAILABLE', upstreamStatus: 500, upstreamError: 'unknown' });
    expect(findInChain(error, RetryAfterError)).toBeUndefined();
    expect(imdsAttempts(since)).toBe(3);
    expect(retries).toEqual([500, 500]);
  });

  it('a transient 500 is retried into a token', async () => {
    sim.faults.add({ service: 'imds', path: IMDS_TOKEN_PATH, times: 1, action: { kind: 'status', status: 500 } });
    const since = lastSeq();
    const token = await imdsClient().getToken({ resource: RESOURCE, selector: { kind: 'client_id', value: alpha.clientId } });
    expect(token.clientId).toBe(alpha.clientId);
    expect(imdsAttempts(since)).toBe(2);
  });

  it('429 with Retry-After: waits as told between attempts; the final error carries the Retry-After for caches', async () => {
    sim.faults.add({ service: 'imds', path: IMDS_TOKEN_PATH, action: { kind: 'status', status: 429, retryAfterSeconds: 1 } });
    const since = lastSeq();
    const started = performance.now();
    const error = await tokenRequestError(imdsClient().getToken({ resource: RESOURCE, selector: { kind: 'client_id', value: alpha.clientId } }));
    const elapsed = performance.now() - started;
    expect(error).toMatchObject({ kind: 'unavailable', upstreamStatus: 429, upstreamError: 'too_many_requests', retryAfterMs: 1000 });
    expect(findInChain(error, RetryAfterError)?.retryAfterMs).toBe(1000);
    expect(imdsAttempts(since)).toBe(3);
    expect(elapsed).toBeGreaterThanOrEqual(1900);
  });

  it('a Retry-After beyond the cap ends the retries at once', async () => {
    sim.faults.add({ service: 'imds', path: IMDS_TOKEN_PATH, action: { kind: 'status', status: 429, retryAfterSeconds: 30 } });
    const since = lastSeq();
    const error = await tokenRequestError(imdsClient().getToken({ resource: RESOURCE, selector: { kind: 'client_id', value: alpha.clientId } }));
    expect(findInChain(error, RetryAfterError)?.retryAfterMs).toBe(30_000);
    expect(imdsAttempts(since)).toBe(1);
  });

  it('a hanging IMDS: each attempt times out, then unavailable', async () => {
    sim.faults.add({ id: 'hang', service: 'imds', path: IMDS_TOKEN_PATH, action: { kind: 'hang', ms: 10_000 } });
    const error = await tokenRequestError(imdsClient({ attemptTimeoutMs: 200 }).getToken({ resource: RESOURCE, selector: { kind: 'client_id', value: alpha.clientId } }));
    expect(error.kind).toBe('unavailable');
    expect(error.upstreamStatus).toBeUndefined();
    expect(error.message).toContain('timed out after 200 ms');
    expect(sim.faults.list().find((rule) => rule.id === 'hang')?.hits).toBe(3);
  });

  it('IMDS not listening: unavailable after the retries', async () => {
    const closed = await sim.startImds('vm-token-node');
    await closed.close();
    const client = new ImdsTokenClient({ endpoint: closed.url, retry: { baseDelayMs: 10, maxDelayMs: 20 } });
    clients.push(client);
    const error = await tokenRequestError(client.getToken({ resource: RESOURCE }));
    expect(error.kind).toBe('unavailable');
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('an abort ends a hanging attempt with the signal’s reason, without retrying', async () => {
    sim.faults.add({ id: 'hang-abort', service: 'imds', path: IMDS_TOKEN_PATH, action: { kind: 'hang', ms: 10_000 } });
    const controller = new AbortController();
    const reason = new Error('pod went away');
    setTimeout(() => {
      controller.abort(reason);
    }, 150);
    const started = performance.now();
    const error = await rejection(imdsClient({ attemptTimeoutMs: 5_000 }).getToken({ resource: RESOURCE, selector: { kind: 'client_id', value: alpha.clientId } }, controller.signal));
    expect(error).toBe(reason);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(sim.faults.list().find((rule) => rule.id === 'hang-abort')?.hits).toBe(1);
  });

  it('an abort during the backoff ends the wait', async () => {
    sim.faults.add({ service: 'imds', path: IMDS_TOKEN_PATH, action: { kind: 'status', status: 503 } });
    const controller = new AbortController();
    const client = imdsClient({
      retry: { baseDelayMs: 10_000, maxDelayMs: 10_000 },
      onRetry: () => {
        controller.abort(new Error('stop'));
      },
    });
    const started = performance.now();
    const error = await rejection(client.getToken({ resource: RESOURCE }, controller.signal));
    expect((error as Error).message).toBe('stop');
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('ServicePrincipalTokenClient', () => {
  const spClient = (authorityHost = sim.entraUrl): ServicePrincipalTokenClient => {
    const client = new ServicePrincipalTokenClient({ cloud: { authorityHost, knownAuthorityHost: false }, caPem: sim.caPem, retryDelayMs: 20 });
    spClients.push(client);
    return client;
  };
  const secretRequest = (overrides: Partial<ServicePrincipalTokenRequest> = {}): ServicePrincipalTokenRequest => ({
    tenantId: sim.tenantId,
    clientId: secretApp.appId,
    credential: { kind: 'secret', clientSecret: readClientSecret({ clientSecret: base64(secretApp.secret) }, { namespace: 'default', name: 'sp-secret' }) },
    resource: RESOURCE,
    ...overrides,
  });

  it('client secret: a token naming the app and its tenant, under the resource as asked (trailing slash kept)', async () => {
    const token = await spClient().getToken(secretRequest());
    expect(token).toMatchObject({ resource: RESOURCE, clientId: secretApp.appId });
    const claims = decodeJwt(token.accessToken);
    // `https://management.azure.com/` was sent as the scope `https://management.azure.com//.default`.
    expect(claims).toMatchObject({ aud: RESOURCE, tid: sim.tenantId, appid: secretApp.appId, appidacr: '1', oid: secretApp.objectId });
    // MSAL computes the expiry as its own clock + expires_in: within a second or two of `exp`.
    expect(Math.abs(token.expiresOnMs - (claims.exp ?? 0) * 1000)).toBeLessThanOrEqual(2_000);
  });

  it('certificate: PKCS#12 from the Secret’s data, a signed assertion the simulator verifies', async () => {
    const certificate = readClientCertificate(certificateSecretData, { namespace: 'default', name: 'sp-cert' });
    const token = await spClient().getToken({ tenantId: sim.tenantId, clientId: certApp.appId, credential: { kind: 'certificate', certificate }, resource: 'https://vault.azure.net' });
    expect(token.resource).toBe('https://vault.azure.net');
    expect(decodeJwt(token.accessToken)).toMatchObject({ aud: 'https://vault.azure.net', tid: sim.tenantId, appid: certApp.appId, appidacr: '2', oid: certApp.objectId });
  });

  it('the credential is reused (MSAL’s cache answers the second request); a rotated secret gets a new one', async () => {
    const client = spClient();
    const since = lastSeq();
    const first = await client.getToken(secretRequest({ resource: 'https://storage.azure.com/' }));
    const second = await client.getToken(secretRequest({ resource: 'https://storage.azure.com/' }));
    expect(second.accessToken).toBe(first.accessToken);
    expect(sim.requestLog.query({ service: 'entra', method: 'POST', sinceSeq: since })).toHaveLength(1);
    expect(client.cachedCredentials).toBe(1);
    const rotated = await tokenRequestError(client.getToken(secretRequest({ credential: { kind: 'secret', clientSecret: new Secret('rotated-but-wrong') } })));
    expect(rotated.kind).toBe('rejected');
    expect(client.cachedCredentials).toBe(2);
  });

  it('a wrong secret is rejected with Entra’s AADSTS code; no secret in the error', async () => {
    const wrong = 'Wrong~secret.value-99';
    const error = await tokenRequestError(spClient().getToken(secretRequest({ credential: { kind: 'secret', clientSecret: new Secret(wrong) } })));
    expect(error).toMatchObject({ kind: 'rejected', upstreamStatus: 401, upstreamError: 'invalid_client', aadstsCode: 'AADSTS7000215' });
    expect(error.upstreamDescription).toMatch(/^AADSTS7000215: Invalid client secret provided/);
    expect(error.context).toMatchObject({ endpoint: 'entra', clientId: secretApp.appId, tenantId: sim.tenantId, resource: RESOURCE });
    // describeError follows the cause chain into @azure/identity's and MSAL's errors too.
    for (const text of [error.message, error.upstreamDescription ?? '', JSON.stringify(error), describeError(error)]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(secretApp.secret);
    }
  });

  it('an unknown application is rejected (AADSTS700016)', async () => {
    const error = await tokenRequestError(spClient().getToken(secretRequest({ clientId: '00000000-dead-4bad-8bad-000000000000' })));
    expect(error).toMatchObject({ kind: 'rejected', aadstsCode: 'AADSTS700016' });
  });

  it('Entra failing with 500: retried twice, then unavailable; MSAL then refuses locally, also unavailable', async () => {
    sim.faults.add({ service: 'entra', method: 'POST', path: '/oauth2/v2.0/token', action: { kind: 'status', status: 500 } });
    const client = spClient();
    const since = lastSeq();
    const error = await tokenRequestError(client.getToken(secretRequest({ resource: 'https://graph.microsoft.com/' })));
    expect(error).toMatchObject({ kind: 'unavailable', upstreamStatus: 500, upstreamError: 'server_error', aadstsCode: 'AADSTS90033' });
    expect(sim.requestLog.query({ service: 'entra', method: 'POST', sinceSeq: since })).toHaveLength(3);
    const replayed = await tokenRequestError(client.getToken(secretRequest({ resource: 'https://graph.microsoft.com/' })));
    expect(replayed.kind).toBe('unavailable');
    expect(findInChain(replayed, RetryAfterError)).toBeDefined();
    expect(sim.requestLog.query({ service: 'entra', method: 'POST', sinceSeq: since })).toHaveLength(3);
  });

  it('Entra throttling (429) is unavailable with a RetryAfterError in the chain', async () => {
    sim.faults.add({ service: 'entra', method: 'POST', path: '/oauth2/v2.0/token', action: { kind: 'status', status: 429, retryAfterSeconds: 1 } });
    const error = await tokenRequestError(spClient().getToken(secretRequest({ resource: 'https://database.windows.net/' })));
    expect(error).toMatchObject({ kind: 'unavailable', upstreamStatus: 429 });
    expect(findInChain(error, RetryAfterError)).toBeDefined();
  });

  it('Entra unreachable is unavailable', async () => {
    const error = await tokenRequestError(spClient('https://127.0.0.1:9').getToken(secretRequest()));
    expect(error.kind).toBe('unavailable');
    expect(error.upstreamStatus).toBeUndefined();
  });

  it('adEndpoint overrides the cloud’s authority host (trailing slash normalised)', async () => {
    const token = await spClient('https://127.0.0.1:9').getToken(secretRequest({ adEndpoint: `${sim.entraUrl}/` }));
    expect(decodeJwt(token.accessToken)).toMatchObject({ appid: secretApp.appId });
  });

  it('an aborted request rejects with the signal’s reason', async () => {
    const reason = new Error('client gone');
    const error = await rejection(spClient().getToken(secretRequest(), AbortSignal.abort(reason)));
    expect(error).toBe(reason);
  });

  // The simulator hosts one tenant; a `*.onmicrosoft.com` domain names that same tenant, so the
  // auxiliary token here has the primary `tid`. A second tenant needs simulator support.
  it('auxiliary tenants: one token per tenant, primary first', async () => {
    const tokens = await spClient().getTokens(secretRequest({ auxiliaryTenantIds: ['contoso.onmicrosoft.com'] }));
    expect(tokens).toHaveLength(2);
    expect(tokens.map((token) => decodeJwt(token.accessToken)['tid'])).toEqual([sim.tenantId, sim.tenantId]);
    expect(tokens.every((token) => token.resource === RESOURCE && token.clientId === secretApp.appId)).toBe(true);
  });

  it('auxiliary tenants: one that fails (unknown tenant) fails the request', async () => {
    const unknownTenant = 'f00dface-0000-4000-8000-000000000000';
    const error = await tokenRequestError(spClient().getTokens(secretRequest({ auxiliaryTenantIds: [unknownTenant] })));
    expect(error.kind).toBe('rejected');
    expect(error.context.tenantId).toBe(unknownTenant);
    expect(error.aadstsCode).toBe('AADSTS90002');
  });

  it('auxiliary tenants are ignored for a certificate identity (type 1 only, as upstream)', async () => {
    const certificate = readClientCertificate(certificateSecretData, { namespace: 'default', name: 'sp-cert' });
    const tokens = await spClient().getTokens({ tenantId: sim.tenantId, clientId: certApp.appId, credential: { kind: 'certificate', certificate }, resource: RESOURCE, auxiliaryTenantIds: ['other.onmicrosoft.com'] });
    expect(tokens).toHaveLength(1);
  });
});
