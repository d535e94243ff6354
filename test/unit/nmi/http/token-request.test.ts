import { describe, expect, it } from 'vitest';
import {
  conflictingIdentitySelectors,
  duplicateQueryParameter,
  forwardedRequest,
  identityNotFound,
  imdsErrorBody,
  instanceMetadataBlocked,
  internalError,
  invalidTokenPath,
  metadataHeaderMissing,
  podHeadersMissing,
  resourceMissing,
  type ImdsError,
} from '../../../../src/nmi/http/imds-errors.ts';
import { redactClientId } from '../../../../src/nmi/identity/redact-client-id.ts';
import {
  parseHostTokenRequest,
  parseTokenRequest,
  type RequestHeaders,
} from '../../../../src/nmi/http/token-request.ts';

const RESOURCE = 'https://vault.azure.net';
const CLIENT_ID = '77788899-f67e-42e1-9a78-89985f6bff3e';
const RESOURCE_ID =
  '/subscriptions/9f2be85c-f8ae-4569-9353-38e5e8b459ef/resourcegroups/test/providers/Microsoft.ManagedIdentity/userAssignedIdentities/test';
const OK_HEADERS: RequestHeaders = { metadata: 'true' };
const REQUIRED = { metadataHeaderRequired: true };

function q(query: string): URLSearchParams {
  return new URLSearchParams(query);
}

function errorOf(result: { ok: true } | { ok: false; error: ImdsError }): ImdsError | undefined {
  return result.ok ? undefined : result.error;
}

describe('parseTokenRequest: Metadata header', () => {
  it.each<[string, RequestHeaders]>([
    ['lower-case name', { metadata: 'true' }],
    ['canonical name', { Metadata: 'true' }],
    ['upper-case name', { METADATA: 'true' }],
    ['single-element array', { metadata: ['true'] }],
    ['undefined siblings ignored', { metadata: 'true', other: undefined }],
  ])('accepts %s', (_name, headers) => {
    expect(parseTokenRequest(q(`resource=${RESOURCE}`), headers, REQUIRED).ok).toBe(true);
  });

  it.each<[string, RequestHeaders]>([
    ['missing', {}],
    ['undefined', { metadata: undefined }],
    ['empty', { metadata: '' }],
    ['True', { metadata: 'True' }],
    ['TRUE', { metadata: 'TRUE' }],
    ['1', { metadata: '1' }],
    ['padded', { metadata: ' true' }],
    ['joined duplicate (Node joins repeated headers)', { metadata: 'true, true' }],
    ['two values', { metadata: ['true', 'true'] }],
    ['empty array', { metadata: [] }],
    ['two keys differing in case', { metadata: 'true', Metadata: 'true' }],
  ])('rejects %s with the upstream JSON error', (_name, headers) => {
    const result = parseTokenRequest(q(`resource=${RESOURCE}`), headers, REQUIRED);
    expect(errorOf(result)).toEqual({
      status: 400,
      error: 'invalid_request',
      description: 'Required metadata header not specified',
    });
  });

  it('is not checked when not required', () => {
    expect(parseTokenRequest(q(`resource=${RESOURCE}`), {}, { metadataHeaderRequired: false }).ok).toBe(true);
    expect(parseTokenRequest(q(`resource=${RESOURCE}`), { metadata: 'no' }, { metadataHeaderRequired: false }).ok).toBe(true);
  });
});

describe('parseTokenRequest: rules and their order', () => {
  it.each<[string, string, RequestHeaders, boolean, ImdsError]>([
    ['metadata header before everything', 'client_id=a&object_id=b', { 'x-forwarded-for': '1.2.3.4' }, true, metadataHeaderMissing()],
    ['X-Forwarded-For (lower case)', `resource=${RESOURCE}`, { ...OK_HEADERS, 'x-forwarded-for': '10.0.0.1' }, true, forwardedRequest()],
    ['X-Forwarded-For (canonical, empty value)', `resource=${RESOURCE}`, { ...OK_HEADERS, 'X-Forwarded-For': '' }, true, forwardedRequest()],
    ['X-Forwarded-For even without metadata requirement', `resource=${RESOURCE}`, { 'x-forwarded-for': ['a', 'b'] }, false, forwardedRequest()],
    ['X-Forwarded-For before duplicates and resource', 'client_id=a&client_id=a', { ...OK_HEADERS, 'x-forwarded-for': 'x' }, true, forwardedRequest()],
    ['duplicate resource', `resource=${RESOURCE}&resource=${RESOURCE}`, OK_HEADERS, true, duplicateQueryParameter('resource')],
    ['duplicate client_id', `resource=${RESOURCE}&client_id=a&client_id=b`, OK_HEADERS, true, duplicateQueryParameter('client_id')],
    ['duplicate api-version', `api-version=2018-02-01&resource=${RESOURCE}&api-version=2018-02-01`, OK_HEADERS, true, duplicateQueryParameter('api-version')],
    ['duplicate unknown parameter', `resource=${RESOURCE}&x=1&x=2`, OK_HEADERS, true, duplicateQueryParameter('x')],
    ['duplicate via encoded name', `resource=${RESOURCE}&resourc%65=y`, OK_HEADERS, true, duplicateQueryParameter('resource')],
    ['duplicate before missing resource', 'x=1&x=1', OK_HEADERS, true, duplicateQueryParameter('x')],
    ['resource missing', 'api-version=2018-02-01', OK_HEADERS, true, resourceMissing()],
    ['resource empty', 'resource=', OK_HEADERS, true, resourceMissing()],
    ['resource missing before conflicting selectors', `client_id=${CLIENT_ID}&msi_res_id=${RESOURCE_ID}`, OK_HEADERS, true, resourceMissing()],
    ['client_id + msi_res_id (upstream matched either)', `resource=${RESOURCE}&client_id=${CLIENT_ID}&msi_res_id=${RESOURCE_ID}`, OK_HEADERS, true, conflictingIdentitySelectors(['client_id', 'msi_res_id'])],
    ['client_id + object_id', `resource=${RESOURCE}&object_id=o&client_id=c`, OK_HEADERS, true, conflictingIdentitySelectors(['client_id', 'object_id'])],
    ['object_id + mi_res_id', `resource=${RESOURCE}&object_id=o&mi_res_id=r`, OK_HEADERS, true, conflictingIdentitySelectors(['object_id', 'mi_res_id'])],
    ['all four', `resource=${RESOURCE}&client_id=c&object_id=o&msi_res_id=r&mi_res_id=r`, OK_HEADERS, true, conflictingIdentitySelectors(['client_id', 'object_id', 'msi_res_id', 'mi_res_id'])],
  ])('%s', (_name, query, headers, metadataHeaderRequired, expected) => {
    expect(errorOf(parseTokenRequest(q(query), headers, { metadataHeaderRequired }))).toEqual(expected);
  });

  it('conflicting-selector message names the parameters', () => {
    const error = errorOf(parseTokenRequest(q(`resource=r&client_id=c&msi_res_id=m`), OK_HEADERS, REQUIRED));
    expect(error?.status).toBe(400);
    expect(error?.error).toBe('invalid_request');
    expect(error?.description).toBe(
      'only one of client_id, object_id, msi_res_id or mi_res_id may be specified, got: client_id, msi_res_id',
    );
  });
});

describe('parseTokenRequest: accepted requests', () => {
  it.each<[string, string, unknown]>([
    ['no selector', `resource=${RESOURCE}`, { resource: RESOURCE, selector: undefined }],
    [
      '@azure/identity form',
      'api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com&client_id=' + CLIENT_ID,
      { resource: 'https://management.azure.com', selector: { kind: 'client_id', value: CLIENT_ID }, apiVersion: '2018-02-01' },
    ],
    [
      'az CLI resource with trailing slash kept byte-for-byte',
      'resource=https://management.core.windows.net/&api-version=2018-02-01',
      { resource: 'https://management.core.windows.net/', selector: undefined, apiVersion: '2018-02-01' },
    ],
    ['client_id', `resource=${RESOURCE}&client_id=${CLIENT_ID}`, { resource: RESOURCE, selector: { kind: 'client_id', value: CLIENT_ID } }],
    ['object_id', `resource=${RESOURCE}&object_id=abc`, { resource: RESOURCE, selector: { kind: 'object_id', value: 'abc' } }],
    [
      'msi_res_id (URL-encoded)',
      `resource=${RESOURCE}&msi_res_id=${encodeURIComponent(RESOURCE_ID)}`,
      { resource: RESOURCE, selector: { kind: 'resource_id', value: RESOURCE_ID } },
    ],
    ['mi_res_id', `resource=${RESOURCE}&mi_res_id=${RESOURCE_ID}`, { resource: RESOURCE, selector: { kind: 'resource_id', value: RESOURCE_ID } }],
    [
      'msi_res_id preferred over mi_res_id (upstream fallback order)',
      `resource=${RESOURCE}&mi_res_id=second&msi_res_id=first`,
      { resource: RESOURCE, selector: { kind: 'resource_id', value: 'first' } },
    ],
    [
      'empty selectors count as absent (upstream)',
      `resource=${RESOURCE}&client_id=&msi_res_id=&mi_res_id=r`,
      { resource: RESOURCE, selector: { kind: 'resource_id', value: 'r' } },
    ],
    ['unknown parameters ignored', `resource=${RESOURCE}&bypass_cache=true&xms_cc=cp1`, { resource: RESOURCE, selector: undefined }],
    ['empty api-version kept as sent', `resource=${RESOURCE}&api-version=`, { resource: RESOURCE, selector: undefined, apiVersion: '' }],
  ])('%s', (_name, query, expected) => {
    expect(parseTokenRequest(q(query), OK_HEADERS, REQUIRED)).toEqual({ ok: true, request: expected });
  });

  it('omits apiVersion when not sent', () => {
    const result = parseTokenRequest(q(`resource=${RESOURCE}`), OK_HEADERS, REQUIRED);
    expect(result.ok && 'apiVersion' in result.request).toBe(false);
  });
});

describe('parseHostTokenRequest', () => {
  const pod: RequestHeaders = { podns: 'default', podname: 'demo' };

  it.each<[string, RequestHeaders, string, unknown]>([
    ['plain', pod, `resource=${RESOURCE}`, { ok: true, request: { podNamespace: 'default', podName: 'demo', resource: RESOURCE } }],
    ['header names any case, no Metadata header needed', { PodNS: 'ns', PODNAME: 'p' }, 'resource=r', { ok: true, request: { podNamespace: 'ns', podName: 'p', resource: 'r' } }],
    ['missing podns', { podname: 'demo' }, 'resource=r', { ok: false, error: podHeadersMissing() }],
    ['missing podname', { podns: 'default' }, 'resource=r', { ok: false, error: podHeadersMissing() }],
    ['empty podname', { podns: 'default', podname: '' }, 'resource=r', { ok: false, error: podHeadersMissing() }],
    ['two podns values', { podns: ['a', 'b'], podname: 'demo' }, 'resource=r', { ok: false, error: podHeadersMissing() }],
    ['pod headers checked before resource', {}, '', { ok: false, error: podHeadersMissing() }],
    ['resource missing', pod, '', { ok: false, error: resourceMissing() }],
    ['resource empty', pod, 'resource=', { ok: false, error: resourceMissing() }],
    ['duplicate resource', pod, 'resource=a&resource=b', { ok: false, error: duplicateQueryParameter('resource') }],
  ])('%s', (_name, headers, query, expected) => {
    expect(parseHostTokenRequest(headers, q(query))).toEqual(expected);
  });

  it('uses the upstream text', () => {
    expect(podHeadersMissing().description).toBe(`missing 'podname' and 'podns' from request header`);
  });
});

describe('imds errors', () => {
  it.each<[string, ImdsError, number, string]>([
    ['metadata header', metadataHeaderMissing(), 400, '{"error":"invalid_request","error_description":"Required metadata header not specified"}'],
    ['resource', resourceMissing(), 400, '{"error":"invalid_request","error_description":"parameter resource cannot be empty"}'],
    ['invalid token path', invalidTokenPath(), 400, '{"error":"invalid_request","error_description":"Invalid request"}'],
    ['pod headers', podHeadersMissing(), 400, `{"error":"invalid_request","error_description":"missing 'podname' and 'podns' from request header"}`],
    ['instance blocked', instanceMetadataBlocked(), 403, '{"error":"forbidden","error_description":"Request blocked by AAD Pod Identity NMI"}'],
    ['duplicate', duplicateQueryParameter('resource'), 400, `{"error":"invalid_request","error_description":"query parameter 'resource' must not be specified more than once"}`],
    ['forwarded', forwardedRequest(), 400, '{"error":"invalid_request","error_description":"requests with an X-Forwarded-For header are not accepted"}'],
    ['not found', identityNotFound('no azure identity found'), 404, '{"error":"identity_not_found","error_description":"no azure identity found"}'],
    ['internal', internalError('pod list is empty'), 500, '{"error":"internal_error","error_description":"pod list is empty"}'],
  ])('%s: status and JSON body', (_name, error, status, body) => {
    expect(error.status).toBe(status);
    expect(JSON.stringify(imdsErrorBody(error))).toBe(body);
  });

  it('identityNotFound with Retry-After is 503 (upstream --set-retry-after-header)', () => {
    expect(identityNotFound('x', 20)).toEqual({ status: 503, error: 'identity_not_found', description: 'x', retryAfterSeconds: 20 });
    expect('retryAfterSeconds' in identityNotFound('x')).toBe(false);
  });

  it('the body has exactly the two IMDS fields', () => {
    expect(Object.keys(imdsErrorBody(identityNotFound('x', 20)))).toEqual(['error', 'error_description']);
  });
});

describe('redactClientId (upstream TestRedactClientID)', () => {
  it.each([
    ['aabc0000-a83v-9h4m-000j-2c0a66b0c1f9', 'aabc##### REDACTED #####c1f9'],
    [CLIENT_ID, '7778##### REDACTED #####ff3e'],
    ['12345678', '1234##### REDACTED #####5678'],
    ['1234 x 5678', '1234##### REDACTED #####5678'],
    // Deviation: upstream returned these unchanged.
    ['1234567', '##### REDACTED #####'],
    ['abc', '##### REDACTED #####'],
    [' 12345678', '##### REDACTED #####'],
    ['', ''],
  ])('%j -> %j', (id, expected) => {
    expect(redactClientId(id)).toBe(expected);
  });
});
