import { describe, expect, it } from 'vitest';
import {
  ImdsResponseFormatError,
  imdsRequestContext,
  imdsTokenUrl,
  isRetryableImdsStatus,
  parseImdsTokenResponse,
  type ImdsTokenRequest,
} from '../../../src/azure/imds-token-client.ts';

const NOW = Date.UTC(2020, 10, 13, 3, 33, 44); // 1605238424 s
const request: ImdsTokenRequest = { resource: 'https://management.core.windows.net/', selector: { kind: 'client_id', value: 'c1' } };

describe('imdsTokenUrl', () => {
  it('asks for the resource with api-version 2018-02-01 and the selector’s parameter', () => {
    const url = (req: ImdsTokenRequest): URL => new URL(imdsTokenUrl('http://169.254.169.254:80', req));
    const byClient = url(request);
    expect(byClient.origin + byClient.pathname).toBe('http://169.254.169.254/metadata/identity/oauth2/token');
    expect([...byClient.searchParams]).toEqual([
      ['api-version', '2018-02-01'],
      ['resource', 'https://management.core.windows.net/'],
      ['client_id', 'c1'],
    ]);
    expect(url({ resource: 'r', selector: { kind: 'object_id', value: 'o1' } }).searchParams.get('object_id')).toBe('o1');
    const id = '/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a b';
    const byResource = url({ resource: 'r', selector: { kind: 'resource_id', value: id } });
    expect(byResource.searchParams.get('msi_res_id')).toBe(id);
    expect(byResource.search).not.toContain(' ');
    const system = url({ resource: 'https://vault.azure.net' });
    expect([...system.searchParams.keys()]).toEqual(['api-version', 'resource']);
  });

  it('keeps a trailing slash of the resource (a different audience for IMDS)', () => {
    expect(imdsTokenUrl('http://127.0.0.1:8081', { resource: 'https://x/' })).toContain('resource=https%3A%2F%2Fx%2F');
  });
});

describe('parseImdsTokenResponse', () => {
  // A real IMDS answer (azure-protocols.md §1.2): every value is a string.
  const real = {
    access_token: 'eyJ0eXAi.payload.sig',
    client_id: 'f2a8e6c1-0000-4000-8000-000000000001',
    expires_in: '86386',
    expires_on: '1605238724',
    ext_expires_in: '86399',
    not_before: '1605152024',
    resource: 'https://management.core.windows.net/',
    token_type: 'Bearer',
  };

  it('reads the all-strings shape: expiry from expires_on (epoch seconds), not_before, client_id from the response', () => {
    expect(parseImdsTokenResponse(JSON.stringify(real), request, NOW)).toEqual({
      accessToken: real.access_token,
      expiresOnMs: 1605238724_000,
      notBeforeMs: 1605152024_000,
      resource: 'https://management.core.windows.net/',
      clientId: real.client_id,
    });
  });

  it('accepts numbers as numbers', () => {
    const token = parseImdsTokenResponse(JSON.stringify({ ...real, expires_on: 1605238724, not_before: 1605152024 }), request, NOW);
    expect(token.expiresOnMs).toBe(1605238724_000);
    expect(token.notBeforeMs).toBe(1605152024_000);
  });

  it('without expires_on: expires_in from now', () => {
    const { expires_on: _unused, ...body } = real;
    expect(parseImdsTokenResponse(JSON.stringify(body), request, NOW).expiresOnMs).toBe(NOW + 86386_000);
    expect(parseImdsTokenResponse(JSON.stringify({ ...body, expires_in: 3599 }), request, NOW).expiresOnMs).toBe(NOW + 3599_000);
  });

  it('an unusable expires_on falls back to expires_in; a date string is read as a date', () => {
    expect(parseImdsTokenResponse(JSON.stringify({ ...real, expires_on: 'soon' }), request, NOW).expiresOnMs).toBe(NOW + 86386_000);
    expect(parseImdsTokenResponse(JSON.stringify({ ...real, expires_on: '2020-11-14T03:33:44Z' }), request, NOW).expiresOnMs).toBe(Date.UTC(2020, 10, 14, 3, 33, 44));
  });

  it('the resource is the requested one, byte for byte, whatever IMDS echoed', () => {
    const token = parseImdsTokenResponse(JSON.stringify({ ...real, resource: 'https://management.core.windows.net' }), request, NOW);
    expect(token.resource).toBe('https://management.core.windows.net/');
  });

  it('client ID: the response’s, else the one asked for, else none', () => {
    const { client_id: _unused, ...body } = real;
    expect(parseImdsTokenResponse(JSON.stringify(body), request, NOW).clientId).toBe('c1');
    expect(parseImdsTokenResponse(JSON.stringify(body), { resource: 'r' }, NOW).clientId).toBeUndefined();
    expect('clientId' in parseImdsTokenResponse(JSON.stringify(body), { resource: 'r', selector: { kind: 'object_id', value: 'o' } }, NOW)).toBe(false);
  });

  it('no not_before: no notBeforeMs', () => {
    const { not_before: _unused, ...body } = real;
    expect('notBeforeMs' in parseImdsTokenResponse(JSON.stringify(body), request, NOW)).toBe(false);
  });

  it.each([
    ['not JSON', '<html>oops</html>', 'not JSON'],
    ['an array', '[]', 'not a JSON object'],
    ['no access_token', JSON.stringify({ ...real, access_token: '' }), 'no access_token'],
    ['no expiry', JSON.stringify({ access_token: 'secret-token-value' }), 'neither expires_on nor expires_in'],
    ['a negative expires_in only', JSON.stringify({ access_token: 'secret-token-value', expires_in: -5 }), 'neither expires_on nor expires_in'],
    ['another token type', JSON.stringify({ ...real, token_type: 'pop' }), 'not Bearer'],
  ])('refuses %s without quoting the body', (_what, body, problem) => {
    let thrown: unknown;
    try {
      parseImdsTokenResponse(body, request, NOW);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ImdsResponseFormatError);
    expect((thrown as Error).message).toContain(problem);
    expect((thrown as Error).message).not.toContain('secret-token-value');
    expect((thrown as Error).message).not.toContain(real.access_token);
  });
});

describe('isRetryableImdsStatus', () => {
  it('retries what IMDS documents as transient (404, 410, 429, 5xx) and 408; not other 4xx', () => {
    expect([404, 408, 410, 429, 500, 502, 503, 504].every(isRetryableImdsStatus)).toBe(true);
    expect([200, 400, 401, 403, 405, 409].some(isRetryableImdsStatus)).toBe(false);
  });
});

describe('imdsRequestContext', () => {
  it('names the identity the way it was asked for', () => {
    expect(imdsRequestContext(request)).toEqual({ endpoint: 'imds', resource: request.resource, clientId: 'c1' });
    expect(imdsRequestContext({ resource: 'r', selector: { kind: 'object_id', value: 'o1' } })).toEqual({ endpoint: 'imds', resource: 'r', selector: 'object ID o1' });
    expect(imdsRequestContext({ resource: 'r', selector: { kind: 'resource_id', value: '/x' } }).selector).toBe('resource ID /x');
    expect(imdsRequestContext({ resource: 'r' }).selector).toBe('default identity');
  });
});
