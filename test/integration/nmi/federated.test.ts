/**
 * Federated identities (AzureIdentity type 3) end to end, rootless: a real API server as the
 * service-account issuer (its discovery readable anonymously, as on AKS with the OIDC issuer), the
 * Azure simulator as Entra ID (it fetches the issuer's discovery and keys over HTTPS, trusting the
 * plane's CA) and ARM (federated identity credentials created through @azure/arm-msi), a running MIC,
 * and NMI as a process whose `--federated-token-file` holds a TokenRequest token of "its" service
 * account. Pods are Pod objects with 127.x addresses, as in standard-mode.test.ts.
 *
 * Proves: a bound pod gets the identity's token (claims name it; ARM accepts it) without any IMDS or
 * ARM request; the second request is served from the cache; each refusal (no credential, wrong
 * subject, wrong audience, expired token, issuer unreachable, token file missing) reaches the pod as
 * IMDS-shaped JSON naming the cause, without the service-account token; replacing the file's content
 * takes effect without restarting NMI.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader, importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FEDERATED_TOKEN_AUDIENCE } from '../../../src/api/index.ts';
import { openAzureSession, type AzureSession } from '../../../src/cli/azure/session.ts';
import { freePort } from '../../../src/devenv/ports.ts';
import { rawRequest } from '../../../src/kube/raw-client.ts';
import { requestText } from '../../../src/lib/http-request.ts';
import { useMicWorld } from '../../support/mic-suite.ts';
import { armRequests, countArm, IDENTITY_GROUP, lastRequestSeq, SUBSCRIPTION } from '../../support/mic-world.ts';
import { startNmi, tokenRequest, type NmiProcess, type NmiResponse } from '../../support/nmi-world.ts';

const ARM = 'https://management.azure.com/';
/** "NMI's" namespace and service account: the subject every credential here trusts. */
const NMI_NAMESPACE = 'fed-nmi';
const NMI_SERVICE_ACCOUNT = 'pod-identity-nmi';
const NMI_SUBJECT = `system:serviceaccount:${NMI_NAMESPACE}:${NMI_SERVICE_ACCOUNT}`;
const NAMESPACE = 'fed-apps';
const SELECTOR = 'fed-app';

const suite = useMicWorld({ scaleSetNodes: 1, vmNodes: 0 });
let nmi: NmiProcess;
let node: string;
let session: AzureSession;
let tokenFile: string;
/** NMI's own token, as the kubelet would project it. */
let nmiToken: string;
let podIp: string;

/** A TokenRequest token of `serviceAccount` (created when missing) in NMI's namespace. */
async function serviceAccountToken(serviceAccount: string, audience = FEDERATED_TOKEN_AUDIENCE): Promise<string> {
  const world = suite.world();
  await rawRequest(world.kc, { method: 'POST', path: `/api/v1/namespaces/${NMI_NAMESPACE}/serviceaccounts`, body: { metadata: { name: serviceAccount } } }).catch((error: unknown) => {
    if (!String(error).includes('409')) throw error;
  });
  const answer = (await rawRequest(world.kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${NMI_NAMESPACE}/serviceaccounts/${serviceAccount}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [audience], expirationSeconds: 3600 } },
  })) as { status: { token: string } };
  return answer.status.token;
}

/**
 * A token signed with the API server's own service-account key (what only the issuer can do), like
 * `template` but with `claims` changed: an expired token, or one naming an issuer nobody serves.
 */
async function resigned(template: string, claims: Record<string, unknown>): Promise<string> {
  const key = await importPKCS8(readFileSync(path.join(suite.world().plane.dir, 'sa.key'), 'utf8'), 'RS256');
  const header = decodeProtectedHeader(template);
  return new SignJWT({ ...decodeJwt(template), ...claims }).setProtectedHeader({ alg: 'RS256', ...(header.kid === undefined ? {} : { kid: header.kid }) }).sign(key);
}

interface FederatedIdentity {
  readonly name: string;
  readonly id: string;
  readonly clientId: string;
  readonly principalId: string;
}

/**
 * A user-assigned identity with a federated credential created through ARM (NMI's issuer, subject and
 * audience unless overridden; 'none': no credential), and its type-3 AzureIdentity bound to the pod's
 * selector.
 */
async function federatedIdentity(name: string, credential: { issuer?: string; subject?: string; audiences?: string[] } | 'none' = {}): Promise<FederatedIdentity> {
  const world = suite.world();
  const azure = await world.azureIdentity(`${name}-${randomUUID().slice(0, 6)}`);
  const azureName = azure.id.split('/').at(-1) ?? '';
  if (credential !== 'none') {
    await session.msi.federatedIdentityCredentials.createOrUpdate(IDENTITY_GROUP, azureName, 'pod-identity-nmi', {
      issuer: credential.issuer ?? world.plane.issuerUrl,
      subject: credential.subject ?? NMI_SUBJECT,
      audiences: credential.audiences ?? [FEDERATED_TOKEN_AUDIENCE],
    });
  }
  await world.createIdentity(NAMESPACE, name, { type: 3, clientID: azure.clientId, tenantID: world.sim.tenantId, resourceID: azure.id, adEndpoint: world.sim.entraUrl });
  await world.createBinding(NAMESPACE, `${name}-binding`, name, SELECTOR);
  return { name, ...azure };
}

/** NMI's Entra ID token requests logged after `since`. */
async function entraCalls(since: number): Promise<number> {
  const { entries } = await suite.world().admin.requests({ service: 'entra', method: 'POST', since });
  return entries.filter((entry) => entry.path.endsWith('/oauth2/v2.0/token') && (entry.userAgent ?? '').includes('NMI')).length;
}

/** GET on the simulated ARM with a bearer token. */
async function armGet(pathAndQuery: string, token: string): Promise<number> {
  const world = suite.world();
  const response = await requestText(
    httpsRequest(`${world.sim.armUrl}${pathAndQuery}`, { method: 'GET', ca: world.sim.caPem, agent: false, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) }),
  );
  return response.status;
}

/** A token request for `identity` from the pod, checked to be IMDS-shaped JSON. */
async function ask(identity: FederatedIdentity, resource = ARM): Promise<NmiResponse> {
  const response = await tokenRequest(nmi, podIp, { resource, client_id: identity.clientId });
  expect(response.headers['content-type'], response.text).toMatch(/^application\/json/);
  return response;
}

/** Asserts an IMDS-shaped refusal whose description names `cause`, and never holds what the file held. */
function expectRefusal(response: NmiResponse, status: number, cause: RegExp, fileContent: string): Record<string, unknown> {
  expect(response.status, response.text).toBe(status);
  const body = response.json();
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(String(body['error_description'])).toMatch(cause);
  expect(response.text).not.toContain(fileContent);
  return body;
}

beforeAll(async () => {
  const world = suite.world();
  node = world.scaleSetNodes[0] ?? '';
  await world.namespace(NMI_NAMESPACE);
  await world.namespace(NAMESPACE);
  // Entra ID (the simulator) must reach the plane's issuer over TLS: trust the plane's CA.
  await world.admin.setOptions({ oidcCaPems: [world.plane.caPem] });
  session = await openAzureSession({ cloudconfig: world.azureJsonPath, subscription: undefined, useCloudconfigCredential: true, env: {} });
  nmiToken = await serviceAccountToken(NMI_SERVICE_ACCOUNT);
  tokenFile = path.join(world.dir, 'federated-token');
  writeFileSync(tokenFile, nmiToken);
  nmi = await startNmi(world, node, [`--federated-token-file=${tokenFile}`, '--retry-attempts-for-created=4', '--retry-attempts-for-assigned=2', '--find-identity-retry-interval=2']);
  podIp = '127.12.0.1';
  await world.createPod(NAMESPACE, 'app', node, SELECTOR, { ip: podIp });
}, 90_000);

afterAll(async () => {
  if (process.env['NMI_TEST_LOGS'] === '1') console.log(nmi.output());
  await nmi.stop();
});

describe('type 3 (federated identity)', () => {
  it('serves the identity’s token from Entra ID with NMI’s service-account token: no IMDS, no ARM; ARM accepts the token; the second request is a cache hit', async () => {
    const world = suite.world();
    const since = await lastRequestSeq(world);
    const identity = await federatedIdentity('web');
    const response = await ask(identity);
    expect(response.status, response.text).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ resource: ARM, token_type: 'Bearer', client_id: identity.clientId });
    for (const field of ['expires_in', 'expires_on', 'ext_expires_in', 'not_before']) expect(body[field]).toMatch(/^\d+$/);
    const token = String(body['access_token']);
    const claims = decodeJwt(token);
    expect(claims['appid']).toBe(identity.clientId);
    expect(claims['oid']).toBe(identity.principalId);
    expect(claims['tid']).toBe(world.sim.tenantId);
    expect(claims['aud']).toBe(ARM);
    expect(String(claims['xms_mirid']).toLowerCase()).toBe(identity.id.toLowerCase());
    // MIC assigned nothing to the node and NMI asked no IMDS: the token came from Entra ID alone.
    const assigned = await world.assignedFor(NAMESPACE, 'app');
    expect(assigned.find((entry) => entry.spec.azureIdentityRef?.metadata.name === 'web')?.status?.status).toBe('Assigned');
    expect(countArm(await armRequests(world, since))).toMatchObject({ reads: 0, writes: 0 });
    expect((await world.admin.requests({ service: 'imds', since })).entries).toEqual([]);
    expect(world.scaleSetIdentities()).toEqual([]);
    const exchanges = await entraCalls(since);
    expect(exchanges).toBe(1);

    // Cached: the same token, no second exchange; by resource ID too (the AzureIdentity's resourceID).
    const again = await ask(identity);
    expect(again.json()['access_token']).toBe(token);
    const byResourceId = await tokenRequest(nmi, podIp, { resource: ARM, msi_res_id: identity.id });
    expect(byResourceId.json()['access_token']).toBe(token);
    expect(await entraCalls(since)).toBe(exchanges);
    // The audit lines may still be in the pipe.
    await vi.waitFor(() => {
      const audits = nmi.audits().map((record) => record['audit'] as Record<string, unknown>).filter((audit) => audit['identity'] === `${NAMESPACE}/web`);
      expect(audits.map((audit) => [audit['identityType'], audit['decision'], audit['cacheHit']])).toEqual([[3, 'issued', false], [3, 'issued', true], [3, 'issued', true]]);
    });

    // The simulated ARM accepts the identity's token (and refuses a made-up one).
    expect(await armGet(`/subscriptions/${SUBSCRIPTION}/resourceGroups/${IDENTITY_GROUP}?api-version=2021-04-01`, token)).toBe(200);
    expect(await armGet(`/subscriptions/${SUBSCRIPTION}/resourceGroups/${IDENTITY_GROUP}?api-version=2021-04-01`, `${token.slice(0, -4)}AAAA`)).toBe(401);
    // NMI's service-account token and the issued token stay out of NMI's log.
    expect(nmi.output()).not.toContain(nmiToken);
    expect(nmi.output()).not.toContain(token);
  });

  describe('each refusal reaches the pod as IMDS-shaped JSON naming the cause', () => {
    it('no federated credential on the identity', async () => {
      const identity = await federatedIdentity('no-fic', 'none');
      expectRefusal(await ask(identity), 403, /AADSTS70025: .*the identity has no federated identity credential: create one/s, nmiToken);
    });

    it('a credential for another subject', async () => {
      const identity = await federatedIdentity('other-subject', { subject: `system:serviceaccount:${NMI_NAMESPACE}:someone-else` });
      const body = expectRefusal(await ask(identity), 403, /AADSTS700213: .*names the subject of NMI's service-account token/s, nmiToken);
      expect(String(body['error_description'])).toContain(NMI_SUBJECT);
    });

    it('NMI’s token with another audience', async () => {
      const identity = await federatedIdentity('other-audience');
      const wrongAudience = await serviceAccountToken(NMI_SERVICE_ACCOUNT, 'api://not-token-exchange');
      const response = await withFile(wrongAudience, () => ask(identity));
      expectRefusal(response, 403, /AADSTS700212: .*accepts the audience of NMI's service-account token/s, wrongAudience);
    });

    it('an expired token', async () => {
      const identity = await federatedIdentity('expired');
      const now = Math.floor(Date.now() / 1000);
      const expired = await resigned(nmiToken, { iat: now - 7200, nbf: now - 7200, exp: now - 3600 });
      const response = await withFile(expired, () => ask(identity));
      expectRefusal(response, 403, /AADSTS700024: .*has expired or is not valid yet/s, expired);
    });

    it('an issuer Entra ID cannot reach', async () => {
      const nobody = `https://127.0.0.1:${String(await freePort())}`;
      const identity = await federatedIdentity('unreachable', { issuer: nobody });
      const fromNobody = await resigned(nmiToken, { iss: nobody });
      const response = await withFile(fromNobody, () => ask(identity));
      expectRefusal(response, 403, /AADSTS90061: .*could not fetch the issuer's OpenID configuration or signing keys/s, fromNobody);
    });

    it('no token file at all: 503 naming the file', async () => {
      const identity = await federatedIdentity('no-file');
      const moved = `${tokenFile}.away`;
      renameSync(tokenFile, moved);
      try {
        const body = expectRefusal(await ask(identity), 503, /cannot read NMI's service-account token file .*: it does not exist/, nmiToken);
        expect(body['error']).toBe('service_unavailable');
        expect(String(body['error_description'])).toContain(tokenFile);
      } finally {
        renameSync(moved, tokenFile);
      }
    });
  });

  it('reads the token file for every exchange: another account’s token is refused, NMI’s own works again, without a restart', async () => {
    const identity = await federatedIdentity('rotating');
    expect((await ask(identity, 'https://vault.azure.net')).status).toBe(200);
    const intruder = await serviceAccountToken('intruder');
    // A fresh resource is a fresh exchange (the cached token for the vault stays valid as issued).
    const refused = await withFile(intruder, () => ask(identity, 'https://storage.azure.com/'));
    expectRefusal(refused, 403, /AADSTS700213: .*system:serviceaccount:fed-nmi:intruder.*names the subject/s, intruder);
    const rotated = await serviceAccountToken(NMI_SERVICE_ACCOUNT);
    writeFileSync(tokenFile, rotated);
    const served = await ask(identity, 'https://storage.azure.com/');
    expect(served.status, served.text).toBe(200);
    expect(decodeJwt(String(served.json()['access_token']))['appid']).toBe(identity.clientId);
    expect(nmi.output()).not.toContain(intruder);
  });
});

/** The token file holds `content` while `body` runs; NMI's own token afterwards. */
async function withFile<T>(content: string, body: () => Promise<T>): Promise<T> {
  writeFileSync(tokenFile, content);
  try {
    return await body();
  } finally {
    writeFileSync(tokenFile, nmiToken);
  }
}
