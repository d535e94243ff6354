import { describe, expect, it } from 'vitest';
import { TokenRequestError, type TokenRequestContext } from '../../../../src/azure/token-errors.ts';
import { RetryAfterError } from '../../../../src/lib/errors.ts';
import { frameworkFailure, identityRefused, imdsErrorBody, nmiStatusFor, proxyFailed, tokenRequestFailed, tooManyRequests } from '../../../../src/nmi/http/imds-errors.ts';

const imds: TokenRequestContext = { endpoint: 'imds', resource: 'https://management.azure.com/', clientId: 'c1' };
const entra: TokenRequestContext = { endpoint: 'entra', resource: 'https://vault.azure.net', clientId: 'app', tenantId: 'tenant-1' };

describe('token request failures', () => {
  it('403 for rejected, 503 for unavailable (moved from src/azure/token-errors.ts)', () => {
    const rejected = new TokenRequestError('rejected', imds, { upstream: { status: 400, error: 'invalid_request', description: 'Identity not found' } });
    expect(nmiStatusFor(rejected)).toBe(403);
    expect(nmiStatusFor(new TokenRequestError('unavailable', entra, { reason: 'ECONNREFUSED' }))).toBe(503);
  });

  it('passes the endpoint’s error code on, and Retry-After only when it throttled', () => {
    const rejected = new TokenRequestError('rejected', imds, { upstream: { status: 400, error: 'invalid_request' } });
    expect(tokenRequestFailed(rejected)).toEqual({ status: 403, error: 'invalid_request', description: rejected.message });
    const throttled = new TokenRequestError('unavailable', imds, { upstream: { status: 429 }, cause: new RetryAfterError('throttled', 2_500) });
    expect(tokenRequestFailed(throttled)).toEqual({ status: 503, error: 'service_unavailable', description: throttled.message, retryAfterSeconds: 3 });
  });
});

describe('IMDS error answers', () => {
  it('429 with whole seconds of Retry-After, at least 1', () => {
    expect(tooManyRequests('slow down', 10)).toEqual({ status: 429, error: 'too_many_requests', description: 'slow down', retryAfterSeconds: 1 });
    expect(tooManyRequests('slow down', 1_001).retryAfterSeconds).toBe(2);
  });

  it('a refused identity keeps its status, except 404, which may become 503 with Retry-After', () => {
    expect(identityRefused({ status: 400, error: 'invalid_request', description: 'd' }, 20)).toEqual({ status: 400, error: 'invalid_request', description: 'd' });
    expect(identityRefused({ status: 404, error: 'x', description: 'd' }, undefined)).toEqual({ status: 404, error: 'identity_not_found', description: 'd' });
    expect(identityRefused({ status: 404, error: 'x', description: 'd' }, 20)).toEqual({ status: 503, error: 'identity_not_found', description: 'd', retryAfterSeconds: 20 });
  });

  it('the HTTP shell’s own errors have the same body', () => {
    expect(imdsErrorBody(proxyFailed(502, 'unreachable'))).toEqual({ error: 'bad_gateway', error_description: 'unreachable' });
    expect(imdsErrorBody(proxyFailed(400, 'bad'))).toEqual({ error: 'invalid_request', error_description: 'bad' });
    expect(frameworkFailure(413, 'too large')).toEqual({ status: 413, error: 'invalid_request', description: 'too large' });
    expect(frameworkFailure(500, 'secret detail')).toEqual({ status: 500, error: 'internal_error', description: 'internal error in NMI' });
  });
});
