/**
 * FederatedTokenClient against a minimal Entra ID on loopback (HTTPS with its own CA): the token file
 * is read again for every exchange, each refusal keeps Entra's AADSTS code and text and says what it
 * means, the assertion never shows in an error, and an unreadable file names the file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  federatedFailure,
  federatedRefusalCause,
  FederatedTokenClient,
  FederatedTokenFileError,
  readAssertion,
} from '../../../src/azure/federated-token-client.ts';
import { TokenRequestError } from '../../../src/azure/token-errors.ts';
import { describeError, RetryAfterError } from '../../../src/lib/errors.ts';
import { createCertificateAuthority } from '../../../src/lib/pki.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '11111111-2222-3333-4444-555555555555';

/** A JWT-shaped assertion (Entra's refusals must never echo it). */
const assertionFor = (subject: string): string =>
  [{ alg: 'RS256', kid: 'k' }, { iss: 'https://issuer.example', sub: subject, aud: 'api://AzureADTokenExchange' }, 'sig']
    .map((part) => Buffer.from(typeof part === 'string' ? part : JSON.stringify(part)).toString('base64url'))
    .join('.');

/** What the fake answers a token request with, by the subject in the assertion it got. */
type Answer = { status: number; body: Record<string, unknown> };

/** The `sub` of a JWT-shaped assertion. */
function subjectOf(assertion: string): string {
  const claims = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString()) as { sub?: string };
  return claims.sub ?? '';
}

/** `error` as a TokenRequestError (fails the test when it is something else). */
function asTokenError(error: unknown): TokenRequestError {
  expect(error).toBeInstanceOf(TokenRequestError);
  if (!(error instanceof TokenRequestError)) throw new Error(`not a TokenRequestError: ${String(error)}`);
  return error;
}

let server: Server;
let authority: string;
let caPem: string;
let dir: string;
const assertions: string[] = [];
let answerFor: (assertion: string) => Answer;

function refusal(code: number, error: string, text: string): Answer {
  // Entra's shape; the description echoes the assertion, as no real Entra does, to prove redaction.
  return { status: error === 'invalid_client' ? 401 : 400, body: { error, error_description: `AADSTS${String(code)}: ${text}\r\nTrace ID: t\r\nCorrelation ID: c`, error_codes: [code] } };
}

beforeAll(async () => {
  const ca = createCertificateAuthority('fake entra ca');
  const tls = ca.issue({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server' });
  caPem = ca.certPem;
  server = createServer({ cert: tls.certPem, key: tls.keyPem }, (request, response) => {
    const base = `https://${request.headers.host ?? ''}/${TENANT}`;
    const send = (answer: Answer): void => {
      response.writeHead(answer.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer.body));
    };
    if (request.method === 'GET' && request.url === `/${TENANT}/v2.0/.well-known/openid-configuration`) {
      send({ status: 200, body: { issuer: `${base}/v2.0`, authorization_endpoint: `${base}/oauth2/v2.0/authorize`, token_endpoint: `${base}/oauth2/v2.0/token`, jwks_uri: `${base}/discovery/v2.0/keys` } });
      return;
    }
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      const form = new URLSearchParams(text);
      const assertion = form.get('client_assertion') ?? '';
      assertions.push(assertion);
      send(answerFor(assertion));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  authority = `https://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  dir = mkdtempSync(path.join(tmpdir(), 'federated-client-'));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  assertions.length = 0;
  let issued = 0;
  answerFor = (assertion) => ({
    status: 200,
    body: { token_type: 'Bearer', expires_in: 3599, access_token: `token-${String(++issued)}-for-${subjectOf(assertion)}` },
  });
});

function client(tokenFile: string): FederatedTokenClient {
  return new FederatedTokenClient({ cloud: { authorityHost: authority, knownAuthorityHost: false }, caPem, tokenFile, maxRetries: 0 });
}

describe('FederatedTokenClient', () => {
  it('presents the token file as the assertion, and reads it again for every exchange (rotation needs no restart)', async () => {
    const file = path.join(dir, 'rotating');
    writeFileSync(file, `${assertionFor('system:serviceaccount:kube-system:first')}\n`);
    const federated = client(file);
    const first = await federated.getToken({ tenantId: TENANT, clientId: CLIENT, resource: 'https://vault.azure.net' });
    expect(first).toMatchObject({ resource: 'https://vault.azure.net', clientId: CLIENT });
    expect(first.accessToken).toContain('for-system:serviceaccount:kube-system:first');
    expect(assertions).toEqual([assertionFor('system:serviceaccount:kube-system:first')]);

    writeFileSync(file, assertionFor('system:serviceaccount:kube-system:second'));
    const second = await federated.getToken({ tenantId: TENANT, clientId: CLIENT, resource: 'https://storage.azure.com/' });
    expect(second.accessToken).toContain('for-system:serviceaccount:kube-system:second');
    expect(assertions.at(-1)).toBe(assertionFor('system:serviceaccount:kube-system:second'));
    // One credential for the identity, whatever the file holds.
    expect(federated.cachedCredentials).toBe(1);
    await federated.close();
  });

  it('a refusal keeps the AADSTS code, Entra’s text and error, adds what it means, and never carries the assertion', async () => {
    const file = path.join(dir, 'refused');
    const assertion = assertionFor('system:serviceaccount:other:sa');
    writeFileSync(file, assertion);
    answerFor = (sent) => refusal(700213, 'invalid_request', `No matching federated identity record found for presented assertion subject 'system:serviceaccount:other:sa'. Assertion: ${sent}`);
    const error = await client(file).getToken({ tenantId: TENANT, clientId: CLIENT, resource: 'https://management.azure.com/' }).then(() => undefined, (caught: unknown) => caught);
    const failure = asTokenError(error);
    expect(failure.kind).toBe('rejected');
    expect(failure.aadstsCode).toBe('AADSTS700213');
    expect(failure.upstreamError).toBe('invalid_request');
    expect(failure.message).toContain("AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:other:sa'");
    expect(failure.message).toContain("names the subject of NMI's service-account token");
    expect(failure.message).not.toContain(assertion);
    expect(describeError(failure)).not.toContain(assertion);
  });

  it('a missing, empty or unreadable token file fails with an error naming the file, before Entra is asked', async () => {
    const missing = path.join(dir, 'missing');
    const error = await client(missing).getToken({ tenantId: TENANT, clientId: CLIENT, resource: 'https://management.azure.com/' }).then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(FederatedTokenFileError);
    expect((error as Error).message).toBe(`cannot read NMI's service-account token file ${missing} (--federated-token-file; chart: the projected token volume, nmi.federatedToken): it does not exist`);
    const empty = path.join(dir, 'empty');
    writeFileSync(empty, ' \n');
    await expect(client(empty).getToken({ tenantId: TENANT, clientId: CLIENT, resource: 'https://management.azure.com/' })).rejects.toThrow(`${empty} (--federated-token-file; chart: the projected token volume, nmi.federatedToken) is empty`);
    await expect(client(dir).getToken({ tenantId: TENANT, clientId: CLIENT, resource: 'https://management.azure.com/' })).rejects.toThrow('it is a directory');
    expect(assertions).toEqual([]);
  });

  it('Entra failing (5xx) is unavailable, with no meaning added', async () => {
    const file = path.join(dir, 'unavailable');
    writeFileSync(file, assertionFor('system:serviceaccount:kube-system:nmi'));
    answerFor = () => ({ status: 503, body: { error: 'temporarily_unavailable', error_description: 'AADSTS50166: later' } });
    const error = asTokenError(await client(file).getToken({ tenantId: TENANT, clientId: CLIENT, resource: 'https://management.azure.com/' }).then(() => undefined, (caught: unknown) => caught));
    expect(error.kind).toBe('unavailable');
    expect(error.message).not.toContain('could not fetch');
  });
});

describe('readAssertion', () => {
  it('trims the file and reads what is there now', async () => {
    let content = ' a.b.c \n';
    const read = (): Promise<string> => Promise.resolve(content);
    expect(await readAssertion('/f', read)).toBe('a.b.c');
    content = 'd.e.f';
    expect(await readAssertion('/f', read)).toBe('d.e.f');
  });

  it('says why a file cannot be read', async () => {
    const failing = (code: string) => (): Promise<string> => Promise.reject(Object.assign(new Error('x'), { code }));
    await expect(readAssertion('/f', failing('EACCES'))).rejects.toThrow('/f (--federated-token-file; chart: the projected token volume, nmi.federatedToken): NMI may not read it');
    await expect(readAssertion('/f', failing('EIO'))).rejects.toThrow('read failed (EIO)');
  });
});

describe('federatedRefusalCause and federatedFailure', () => {
  const context = { endpoint: 'entra', resource: 'https://management.azure.com/', clientId: CLIENT, tenantId: TENANT } as const;

  it('names the cause of each federation refusal; other codes add nothing', () => {
    const causes = Object.fromEntries(['AADSTS70025', 'AADSTS7002138', 'AADSTS70021', 'AADSTS700211', 'AADSTS700212', 'AADSTS700213', 'AADSTS700024', 'AADSTS50166', 'AADSTS90061', 'AADSTS7000272', 'AADSTS700016'].map((code) => [code, federatedRefusalCause(code, '/token')]));
    expect(causes['AADSTS70025']).toContain('has no federated identity credential: create one');
    expect(causes['AADSTS7002138']).toContain('only ignoring case');
    expect(causes['AADSTS70021']).toContain('matches the issuer, subject and audience');
    expect(causes['AADSTS700211']).toContain('trusts the issuer');
    expect(causes['AADSTS700212']).toContain('accepts the audience');
    expect(causes['AADSTS700212']).toContain('api://AzureADTokenExchange');
    expect(causes['AADSTS700213']).toContain('names the subject');
    expect(causes['AADSTS700024']).toContain('has expired or is not valid yet');
    expect(causes['AADSTS700024']).toContain('/token');
    expect(causes['AADSTS50166']).toContain("could not fetch the issuer's OpenID configuration");
    expect(causes['AADSTS90061']).toBe(causes['AADSTS50166']);
    expect(causes['AADSTS7000272']).toContain('does not verify');
    expect(causes['AADSTS700016']).toContain('no identity with this client ID');
    expect(federatedRefusalCause('AADSTS7000215', '/token')).toBeUndefined();
    expect(federatedRefusalCause(undefined, '/token')).toBeUndefined();
  });

  it('adds the cause to a rejection and keeps everything Entra said; leaves other failures alone', () => {
    const rejected = new TokenRequestError('rejected', context, { upstream: { status: 400, error: 'invalid_request', aadstsCode: 'AADSTS700024', description: 'AADSTS700024: Client assertion is not within its valid time range.' } });
    const mapped = asTokenError(federatedFailure(rejected, '/token'));
    expect([mapped.kind, mapped.upstreamStatus, mapped.upstreamError, mapped.aadstsCode, mapped.upstreamDescription]).toEqual(['rejected', 400, 'invalid_request', 'AADSTS700024', 'AADSTS700024: Client assertion is not within its valid time range.']);
    expect(mapped.message).toBe(
      `Entra ID rejected the token request for https://management.azure.com/ (client ID ${CLIENT}, tenant ${TENANT}): 400 invalid_request: AADSTS700024: Client assertion is not within its valid time range.: NMI's service-account token has expired or is not valid yet (the kubelet refreshes /token; check the projected volume and the node's clock)`,
    );
    const unknown = new TokenRequestError('rejected', context, { upstream: { status: 401, error: 'invalid_client', aadstsCode: 'AADSTS7000215' }, cause: new Error('raw SDK error') });
    expect(asTokenError(federatedFailure(unknown, '/token')).message).toBe(unknown.message);
    const unavailable = new TokenRequestError('unavailable', context, { upstream: { status: 400, aadstsCode: 'AADSTS700213' }, reason: 'ECONNRESET' });
    expect(asTokenError(federatedFailure(unavailable, '/token')).message).toBe(unavailable.message);
    // The SDK's errors are not kept (they hold Entra's answer unsanitised); a throttling back-off is.
    expect(asTokenError(federatedFailure(unknown, '/token')).cause).toBeUndefined();
    const throttled = new TokenRequestError('unavailable', context, { upstream: { status: 429 }, cause: new RetryAfterError('throttled', 10_000, { cause: new Error('raw SDK error') }) });
    const kept = asTokenError(federatedFailure(throttled, '/token'));
    expect(kept.retryAfterMs).toBe(10_000);
    expect(describeError(kept)).not.toContain('raw SDK error');
    const fileError = new FederatedTokenFileError('cannot read /token');
    expect(federatedFailure(new TokenRequestError('unavailable', context, { cause: new Error('wrapped', { cause: fileError }) }), '/token')).toBe(fileError);
  });
});
