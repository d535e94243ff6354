/**
 * Federated identity credentials in the simulator, end to end over HTTPS: the unmodified
 * `@azure/arm-msi` client writes, reads, lists and deletes them on user-assigned identities (with
 * ARM's refusals: old api-versions, non-https issuers, duplicate issuer + subject, more than 20), and
 * the simulated Entra ID exchanges assertions of a real OIDC issuer — a small HTTPS server in this
 * test with its own CA, publishing discovery and JWKS as a Kubernetes API server does — for tokens of
 * the identity, refusing each bad assertion with the AADSTS code Entra uses. `@azure/identity`'s
 * ClientAssertionCredential gets a token the same way.
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import type { TokenCredential } from '@azure/core-auth';
import { isRestError, type RestError } from '@azure/core-rest-pipeline';
import { ClientAssertionCredential } from '@azure/identity';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestText } from '../../src/lib/http-request.ts';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/lib/pki.ts';
import { SimAdminClient } from '../../src/sim/client.ts';
import { startAzureSimulator, type AzureSimulator } from '../../src/sim/simulator.ts';

const SUB = randomUUID();
const RG = 'rg-workload';
const NMI = 'system:serviceaccount:kube-system:nmi';
const EXCHANGE = 'api://AzureADTokenExchange';
const VAULT = 'https://vault.azure.net';
const ADMIN = { objectId: randomUUID(), appId: randomUUID() };

/**
 * An OIDC issuer as a Kubernetes API server publishes one: `/.well-known/openid-configuration` and
 * `/openid/v1/jwks` over HTTPS (its own CA), RS256 keys that can be rotated; it counts key fetches.
 */
class TestIssuer {
  readonly url: string;
  readonly caPem: string;
  keyFetches = 0;
  private readonly app: FastifyInstance;
  private key: { kid: string; privateKey: KeyObject; jwk: JWK };

  private constructor(app: FastifyInstance, url: string, caPem: string, key: TestIssuer['key']) {
    this.app = app;
    this.url = url;
    this.caPem = caPem;
    this.key = key;
  }

  static async start(ca: CertificateAuthority): Promise<TestIssuer> {
    const tls = ca.issue({ commonName: 'test oidc issuer', ipAddresses: ['127.0.0.1'], usage: 'server' });
    const app = Fastify({ https: { key: tls.keyPem, cert: tls.certPem }, forceCloseConnections: true }) as unknown as FastifyInstance;
    // The routes need the issuer, which needs the port the server listens on.
    const started: { issuer?: TestIssuer } = {};
    app.get('/.well-known/openid-configuration', () => ({
      issuer: started.issuer?.url,
      jwks_uri: `${started.issuer?.url ?? ''}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    }));
    app.get('/openid/v1/jwks', () => {
      if (started.issuer === undefined) return { keys: [] };
      started.issuer.keyFetches++;
      return { keys: [started.issuer.key.jwk] };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    started.issuer = new TestIssuer(app, url, ca.certPem, await TestIssuer.newKey());
    return started.issuer;
  }

  private static async newKey(): Promise<TestIssuer['key']> {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = randomUUID();
    return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
  }

  /** Replaces the signing key: the old kid is no longer published. */
  async rotate(): Promise<void> {
    this.key = await TestIssuer.newKey();
  }

  /** A service-account token: `iss` this issuer, `sub` NMI's service account, `aud` the exchange audience, an hour. */
  token(options: { claims?: Record<string, unknown>; key?: KeyObject; kid?: string } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: this.url, sub: NMI, aud: [EXCHANGE], iat: now, nbf: now, exp: now + 3600, ...options.claims })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? this.key.kid })
      .sign(options.key ?? this.key.privateKey);
  }

  close(): Promise<void> {
    return this.app.close();
  }
}

function restError(error: unknown): RestError {
  if (!isRestError(error)) throw new Error(`expected a RestError, got ${String(error)}`);
  return error;
}

async function failure(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

let sim: AzureSimulator;
let msi: ManagedServiceIdentityClient;
let credential: TokenCredential;
let issuerCa: CertificateAuthority;
let issuer: TestIssuer;
const extraIssuers: TestIssuer[] = [];

beforeAll(async () => {
  sim = await startAzureSimulator({ state: { subscriptions: [SUB], resourceGroups: [`/subscriptions/${SUB}/resourceGroups/${RG}`] } });
  credential = {
    getToken: async () => {
      const claims = { aud: 'https://management.azure.com', iss: `https://sts.windows.net/${sim.tenantId}/`, tid: sim.tenantId, oid: ADMIN.objectId, sub: ADMIN.objectId, appid: ADMIN.appId, idtyp: 'app' };
      const signed = await sim.issuer.sign(claims, 3600);
      return { token: signed.token, expiresOnTimestamp: signed.expiresOn * 1000 };
    },
  };
  msi = new ManagedServiceIdentityClient(credential, SUB, { endpoint: sim.armUrl, tlsOptions: { ca: sim.caPem }, credentialScopes: ['https://management.azure.com/.default'] });
  issuerCa = createCertificateAuthority('test OIDC issuer CA');
  issuer = await TestIssuer.start(issuerCa);
});

afterAll(async () => {
  await Promise.allSettled([issuer.close(), ...extraIssuers.map((extra) => extra.close())]);
  await sim.stop();
});

/** A new identity (through arm-msi) with one credential for `trusted`'s issuer and NMI's service account. */
async function federatedIdentity(name: string, trusted: { url: string } = issuer, subject = NMI) {
  const identity = await msi.userAssignedIdentities.createOrUpdate(RG, name, { location: 'westeurope' });
  await msi.federatedIdentityCredentials.createOrUpdate(RG, name, 'kube-nmi', { issuer: trusted.url, subject, audiences: [EXCHANGE] });
  return { clientId: identity.clientId ?? '', principalId: identity.principalId ?? '', id: identity.id ?? '' };
}

/** POSTs the client-assertion grant to the simulated Entra ID's v2 token endpoint. */
async function exchange(clientId: string, assertion: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: clientId,
    scope: `${VAULT}/.default`,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  }).toString();
  const request = httpsRequest(`${sim.entraUrl}/${sim.tenantId}/oauth2/v2.0/token`, { method: 'POST', ca: sim.caPem, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const response = await requestText(request, form);
  return { status: response.status, body: JSON.parse(response.body) as Record<string, unknown> };
}

const codeOf = (response: { body: Record<string, unknown> }): unknown => (response.body['error_codes'] as unknown[] | undefined)?.[0];

describe('federated identity credentials through @azure/arm-msi', () => {
  it('creates, reads, lists, updates and deletes them; deleting the identity deletes them', async () => {
    await msi.userAssignedIdentities.createOrUpdate(RG, 'crud', { location: 'westeurope' });
    const created = await msi.federatedIdentityCredentials.createOrUpdate(RG, 'crud', 'kube-nmi', { issuer: issuer.url, subject: NMI, audiences: [EXCHANGE] });
    expect(created).toMatchObject({ name: 'kube-nmi', type: 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials', issuer: issuer.url, subject: NMI, audiences: [EXCHANGE] });
    expect(created.id?.toLowerCase()).toBe(`/subscriptions/${SUB}/resourcegroups/${RG}/providers/microsoft.managedidentity/userassignedidentities/crud/federatedidentitycredentials/kube-nmi`);
    await msi.federatedIdentityCredentials.createOrUpdate(RG, 'crud', 'apps-web', { issuer: issuer.url, subject: 'system:serviceaccount:apps:web', audiences: [EXCHANGE] });
    const listed = [];
    for await (const item of msi.federatedIdentityCredentials.list(RG, 'crud')) listed.push(item.name);
    expect(listed).toEqual(['kube-nmi', 'apps-web']);
    const updated = await msi.federatedIdentityCredentials.createOrUpdate(RG, 'crud', 'kube-nmi', { issuer: issuer.url, subject: 'system:serviceaccount:pod-identity:nmi', audiences: [EXCHANGE] });
    expect((await msi.federatedIdentityCredentials.get(RG, 'crud', 'kube-nmi')).subject).toBe(updated.subject);
    await msi.federatedIdentityCredentials.delete(RG, 'crud', 'apps-web');
    expect(restError(await failure(msi.federatedIdentityCredentials.get(RG, 'crud', 'apps-web')))).toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });

    const id = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/crud`;
    expect(sim.store.listFederatedCredentials(id).map((item) => item.subject)).toEqual(['system:serviceaccount:pod-identity:nmi']);
    await msi.userAssignedIdentities.delete(RG, 'crud');
    expect(restError(await failure(msi.federatedIdentityCredentials.get(RG, 'crud', 'kube-nmi')))).toMatchObject({ statusCode: 404, code: 'NotFound', message: 'The parent user-assigned identity does not exist.' });
    // The state (admin GET /state, --state files) carries them.
    await msi.userAssignedIdentities.createOrUpdate(RG, 'kept', { location: 'westeurope' });
    await msi.federatedIdentityCredentials.createOrUpdate(RG, 'kept', 'kube-nmi', { issuer: issuer.url, subject: NMI, audiences: [EXCHANGE] });
    const state = await new SimAdminClient(sim.adminUrl).getState();
    expect(state.identities.find((item) => item.name === 'kept')?.federatedIdentityCredentials).toEqual([{ name: 'kube-nmi', issuer: issuer.url, subject: NMI, audiences: [EXCHANGE] }]);
  });

  it('refuses a non-https issuer, a second credential with the same issuer and subject, and the 21st credential', async () => {
    await msi.userAssignedIdentities.createOrUpdate(RG, 'limits', { location: 'westeurope' });
    const plain = restError(await failure(msi.federatedIdentityCredentials.createOrUpdate(RG, 'limits', 'plain', { issuer: 'http://127.0.0.1:8080', subject: NMI, audiences: [EXCHANGE] })));
    expect([plain.statusCode, plain.code]).toEqual([400, 'BadRequest']);
    const missing = restError(await failure(msi.federatedIdentityCredentials.createOrUpdate(RG, 'limits', 'missing', { issuer: issuer.url, audiences: [EXCHANGE] })));
    expect(missing.message).toBe("The request format was unexpected. Federated Identity Credential must specify 'issuer', 'subject' and 'audience'.");

    for (let index = 0; index < 20; index++) {
      await msi.federatedIdentityCredentials.createOrUpdate(RG, 'limits', `fic-${index}`, { issuer: issuer.url, subject: `system:serviceaccount:ns-${index}:app`, audiences: [EXCHANGE] });
    }
    const duplicate = restError(await failure(msi.federatedIdentityCredentials.createOrUpdate(RG, 'limits', 'fic-3', { issuer: issuer.url, subject: 'system:serviceaccount:ns-4:app', audiences: [EXCHANGE] })));
    expect([duplicate.statusCode, duplicate.code, duplicate.message]).toEqual([409, 'Conflict', 'Issuer and subject combination already exists for this Managed Identity.']);
    const tooMany = restError(await failure(msi.federatedIdentityCredentials.createOrUpdate(RG, 'limits', 'fic-20', { issuer: issuer.url, subject: 'system:serviceaccount:ns-20:app', audiences: [EXCHANGE] })));
    expect([tooMany.statusCode, tooMany.code]).toEqual([400, 'BadRequest']);
    expect(tooMany.message).toMatch(/^Too many Federated Identity Credentials/);
    // An update of one of the twenty is still a write the identity allows.
    await msi.federatedIdentityCredentials.createOrUpdate(RG, 'limits', 'fic-0', { issuer: issuer.url, subject: 'system:serviceaccount:ns-0:renamed', audiences: [EXCHANGE] });
  });

  it('refuses api-versions before 2023-01-31', async () => {
    const old = new ManagedServiceIdentityClient(credential, SUB, { endpoint: sim.armUrl, tlsOptions: { ca: sim.caPem }, credentialScopes: ['https://management.azure.com/.default'], apiVersion: '2022-01-31-preview' });
    const error = restError(await failure(old.federatedIdentityCredentials.get(RG, 'limits', 'fic-0')));
    expect([error.statusCode, error.code]).toEqual([400, 'NoRegisteredProviderFound']);
  });
});

describe('the client-assertion grant against a real OIDC issuer', () => {
  it('needs the issuer’s CA: untrusted TLS is AADSTS90061 until admin POST /options adds it', async () => {
    const identity = await federatedIdentity('tls');
    const untrusted = await exchange(identity.clientId, await issuer.token());
    expect(untrusted.status).toBe(400);
    expect(untrusted.body).toMatchObject({ error: 'invalid_request', error_codes: [90061] });
    expect(String(untrusted.body['error_description'])).toMatch(/^AADSTS90061: Request to External OIDC endpoint failed\./);
    const options = await new SimAdminClient(sim.adminUrl).setOptions({ oidcCaPems: [issuerCa.certPem] });
    expect(options.oidcCaPems).toHaveLength(1);
    expect((await exchange(identity.clientId, await issuer.token())).status).toBe(200);
  });

  it('issues a token whose verified claims name the identity, and logs the grant', async () => {
    const identity = await federatedIdentity('good');
    const admin = new SimAdminClient(sim.adminUrl);
    const { lastSeq } = await admin.requests();
    const response = await exchange(identity.clientId, await issuer.token());
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ token_type: 'Bearer' });
    const claims = await sim.issuer.verify(String(response.body['access_token']), [VAULT]);
    expect(claims).toMatchObject({ aud: VAULT, tid: sim.tenantId, appid: identity.clientId, azp: identity.clientId, oid: identity.principalId, sub: identity.principalId, xms_mirid: identity.id });
    const logged = await admin.requests({ service: 'entra', since: lastSeq, path: '/oauth2/v2.0/token' });
    expect(logged.entries.map((entry) => entry.status)).toEqual([200]);
  });

  it('refuses each bad assertion with the AADSTS code Entra uses', async () => {
    const identity = await federatedIdentity('refusals');
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<string>, number][] = [
      ['wrong issuer', issuer.token({ claims: { iss: 'https://token.actions.githubusercontent.com' } }), 700211],
      ['wrong subject', issuer.token({ claims: { sub: 'system:serviceaccount:default:default' } }), 700213],
      ['wrong audience', issuer.token({ claims: { aud: ['https://kubernetes.default.svc'] } }), 700212],
      ['expired', issuer.token({ claims: { iat: now - 7200, nbf: now - 7200, exp: now - 3600 } }), 700024],
      ['not yet valid', issuer.token({ claims: { nbf: now + 3600, exp: now + 7200 } }), 700024],
      ['bad signature', issuer.token({ key: stranger }), 700027],
    ];
    for (const [name, token, code] of cases) {
      const response = await exchange(identity.clientId, await token);
      expect({ name, status: response.status, code: codeOf(response) }).toEqual({ name, status: 401, code });
    }
    const without = await msi.userAssignedIdentities.createOrUpdate(RG, 'no-credentials', { location: 'westeurope' });
    expect(codeOf(await exchange(without.clientId ?? '', await issuer.token()))).toBe(70025);
  });

  it('refetches the keys once for an unknown kid, so rotated keys work and made-up kids cost one fetch', async () => {
    const rotating = await TestIssuer.start(issuerCa);
    extraIssuers.push(rotating);
    const identity = await federatedIdentity('rotation', rotating);
    expect((await exchange(identity.clientId, await rotating.token())).status).toBe(200);
    expect(rotating.keyFetches).toBe(1);
    await rotating.rotate();
    expect((await exchange(identity.clientId, await rotating.token())).status).toBe(200);
    expect(rotating.keyFetches).toBe(2);
    for (const kid of ['made-up-1', 'made-up-2', 'made-up-3']) {
      const response = await exchange(identity.clientId, await rotating.token({ kid }));
      expect(codeOf(response)).toBe(7000272);
      expect(String(response.body['error_description'])).toContain(`The certificate with identifier ${kid} used to sign the federated credential could not be found in the metadata of identity provider ${rotating.url}.`);
    }
    expect(rotating.keyFetches).toBe(2);
  });

  it('an unreachable issuer: AADSTS90061', async () => {
    const gone = await TestIssuer.start(issuerCa);
    const identity = await federatedIdentity('unreachable', gone);
    const token = await gone.token();
    await gone.close();
    const response = await exchange(identity.clientId, token);
    expect(response).toMatchObject({ status: 400, body: { error: 'invalid_request', error_codes: [90061] } });
  });

  it('@azure/identity ClientAssertionCredential gets the identity’s token from the simulated authority', async () => {
    const identity = await federatedIdentity('sdk');
    const sdk = new ClientAssertionCredential(sim.tenantId, identity.clientId, () => issuer.token(), {
      authorityHost: sim.entraUrl,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: sim.caPem },
    });
    const token = await sdk.getToken(`${VAULT}/.default`);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3_600_000);
    expect(await sim.issuer.verify(token.token, [VAULT])).toMatchObject({ appid: identity.clientId, oid: identity.principalId, xms_mirid: identity.id });
  });
});
