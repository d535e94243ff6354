import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { scopeForResource } from '../../../src/azure/entra-credential-pool.ts';
import { entraDescriptionOf, toTokenRequestError } from '../../../src/azure/entra-errors.ts';
import {
  aadstsCodeOf,
  parseOAuthErrorBody,
  sanitizeUpstreamDescription,
  TokenRequestError,
  type TokenRequestContext,
} from '../../../src/azure/token-errors.ts';
import { findInChain, PodIdentityError, RetryAfterError } from '../../../src/lib/errors.ts';

const imds: TokenRequestContext = { endpoint: 'imds', resource: 'https://management.azure.com/', clientId: 'c1' };
const entra: TokenRequestContext = { endpoint: 'entra', resource: 'https://vault.azure.net', clientId: 'app', tenantId: 'tenant-1' };

describe('TokenRequestError', () => {
  it('says who, what and what the endpoint answered', () => {
    const rejected = new TokenRequestError('rejected', imds, { upstream: { status: 400, error: 'invalid_request', description: 'Identity not found' } });
    expect(rejected).toBeInstanceOf(PodIdentityError);
    expect(rejected.code).toBe('PI_TOKEN_REJECTED');
    expect(rejected.message).toBe('IMDS rejected the token request for https://management.azure.com/ (client ID c1): 400 invalid_request: Identity not found');
    const unavailable = new TokenRequestError('unavailable', entra, { reason: 'ECONNREFUSED' });
    expect(unavailable.code).toBe('PI_TOKEN_UNAVAILABLE');
    expect(unavailable.message).toBe('Entra ID unavailable for the token request for https://vault.azure.net (client ID app, tenant tenant-1): ECONNREFUSED');
    expect(unavailable.upstreamStatus).toBeUndefined();
  });

  it('a throttled failure carries a RetryAfterError in its chain', () => {
    const throttled = new TokenRequestError('unavailable', imds, { upstream: { status: 429 }, cause: new RetryAfterError('throttled', 3000) });
    expect(throttled.retryAfterMs).toBe(3000);
    expect(findInChain(throttled, RetryAfterError)?.retryAfterMs).toBe(3000);
    expect(new TokenRequestError('unavailable', imds).retryAfterMs).toBeUndefined();
  });
});

describe('sanitizeUpstreamDescription', () => {
  it('removes known secrets, JWTs and secret parameters; joins lines; bounds the length', () => {
    const text = 'AADSTS7000215: bad secret S3cr3t-value for app.\r\nTrace ID: t\r\nCorrelation ID: c\r\n token eyJhbGciOi.eyJhdWQiOi.c2ln client_secret=abc&x=1';
    const clean = sanitizeUpstreamDescription(text, ['S3cr3t-value']);
    expect(clean).toBe('AADSTS7000215: bad secret [redacted] for app.; Trace ID: t; Correlation ID: c; token [redacted] client_secret=[redacted]&x=1');
    expect(sanitizeUpstreamDescription('x'.repeat(2000))).toHaveLength(600);
    expect(sanitizeUpstreamDescription('a\u0007b')).toBe('ab');
  });
});

describe('parseOAuthErrorBody', () => {
  it('reads IMDS and Entra error bodies', () => {
    expect(parseOAuthErrorBody('{"error":"invalid_request","error_description":"Identity not found"}')).toEqual({ error: 'invalid_request', description: 'Identity not found' });
    expect(parseOAuthErrorBody(JSON.stringify({ error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x', error_codes: [7000215] }))).toEqual({
      error: 'invalid_client',
      aadstsCode: 'AADSTS7000215',
      description: 'AADSTS7000215: Invalid client secret provided.; Trace ID: x',
    });
  });

  it('passes nothing on from a body of another shape', () => {
    expect(parseOAuthErrorBody('<html>502 Bad Gateway</html>')).toEqual({});
    expect(parseOAuthErrorBody('[1]')).toEqual({});
    expect(parseOAuthErrorBody('{"error":{"code":"x"}}')).toEqual({});
  });
});

describe('aadstsCodeOf', () => {
  it('from error_codes, else from the description', () => {
    expect(aadstsCodeOf('whatever', [700016])).toBe('AADSTS700016');
    expect(aadstsCodeOf('AADSTS90002: Tenant not found')).toBe('AADSTS90002');
    expect(aadstsCodeOf('no code')).toBeUndefined();
    expect(aadstsCodeOf(undefined)).toBeUndefined();
  });
});

describe('scopeForResource', () => {
  it('appends /.default, keeping a trailing slash as MSAL requires', () => {
    expect(scopeForResource('https://management.core.windows.net/')).toBe('https://management.core.windows.net//.default');
    expect(scopeForResource('https://vault.azure.net')).toBe('https://vault.azure.net/.default');
    expect(scopeForResource('api://my-app')).toBe('api://my-app/.default');
  });
});

describe('entraDescriptionOf', () => {
  it('takes Entra’s own description out of MSAL’s rewrite', () => {
    const msal = 'Error(s): 7000215 - Timestamp: 2026-01-01 00:00:00Z - Description: AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: x - Correlation ID: c - Trace ID: t';
    expect(entraDescriptionOf(msal)).toBe('AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: x');
    expect(entraDescriptionOf('plain text')).toBe('plain text');
  });
});

/** MSAL's ServerError, duck-typed as @azure/identity wraps it (name, errorCode, errorMessage, errorNo, status). */
function serverError(fields: { errorCode: string; errorMessage: string; errorNo?: number; status?: number }): Error {
  return Object.assign(new Error(`${fields.errorCode}: ${fields.errorMessage}`), { name: 'ServerError', subError: '', ...fields });
}

function wrapped(cause: Error): Error {
  return Object.assign(new Error(cause.message, { cause }), { name: 'AuthenticationRequiredError' });
}

describe('toTokenRequestError', () => {
  it('Entra refusing (401 invalid_client) is rejected, with the AADSTS code and no secret', () => {
    const error = toTokenRequestError(
      wrapped(serverError({ errorCode: 'invalid_client', errorMessage: 'Error(s): 7000215 - Description: AADSTS7000215: Invalid client secret provided: hunter2-secret - Trace ID: t', errorNo: 7000215, status: 401 })),
      entra,
      ['hunter2-secret'],
    );
    expect(error).toMatchObject({ kind: 'rejected', upstreamStatus: 401, upstreamError: 'invalid_client', aadstsCode: 'AADSTS7000215' });
    expect(error.upstreamDescription).toBe('AADSTS7000215: Invalid client secret provided: [redacted]');
    expect(error.message).not.toContain('hunter2');
  });

  it('AuthenticationError (status + errorResponse) is read too', () => {
    const error = toTokenRequestError(new AuthenticationError(400, { error: 'invalid_resource', error_description: 'AADSTS500011: The resource principal named x was not found', error_codes: [500011] }), entra);
    expect(error).toMatchObject({ kind: 'rejected', upstreamStatus: 400, upstreamError: 'invalid_resource', aadstsCode: 'AADSTS500011' });
  });

  it.each([
    ['a 5xx', serverError({ errorCode: 'server_error', errorMessage: 'AADSTS90033: transient', errorNo: 90033, status: 500 })],
    ['temporarily_unavailable without a 5xx', serverError({ errorCode: 'temporarily_unavailable', errorMessage: 'busy', status: 400 })],
    ['a network failure', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })],
    ['endpoints_resolution_error', new CredentialUnavailableError('endpoints_resolution_error: See https://aka.ms/msal.js.errors#endpoints_resolution_error for details')],
  ])('%s is unavailable', (_what, cause) => {
    const error = toTokenRequestError(wrapped(cause), entra);
    expect(error.kind).toBe('unavailable');
    expect(findInChain(error, RetryAfterError)).toBeUndefined();
  });

  it('429, and MSAL’s local replay of a throttled answer (a ServerError without status), are unavailable with a RetryAfterError', () => {
    const throttled = toTokenRequestError(wrapped(serverError({ errorCode: 'temporarily_unavailable', errorMessage: 'AADSTS90055: slow down', status: 429 })), entra);
    expect(throttled).toMatchObject({ kind: 'unavailable', upstreamStatus: 429 });
    expect(findInChain(throttled, RetryAfterError)).toBeDefined();
    const replay = toTokenRequestError(wrapped(serverError({ errorCode: '90033', errorMessage: 'AADSTS90033: transient' })), entra);
    expect(replay.kind).toBe('unavailable');
    expect(replay.upstreamError).toBeUndefined();
    expect(findInChain(replay, RetryAfterError)).toBeDefined();
  });
});
