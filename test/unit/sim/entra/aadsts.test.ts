import { describe, expect, it } from 'vitest';
import { aadsts, aadstsBody, aadTimestamp } from '../../../../src/sim/entra/aadsts.ts';

describe('AADSTS errors', () => {
  it('renders Entra’s exact error body', () => {
    const error = aadsts.invalidClientSecret('11111111-0000-4000-8000-000000000000');
    const body = aadstsBody(error, {
      traceId: 'trace',
      correlationId: 'correlation',
      now: new Date(Date.UTC(2026, 10, 22, 16, 5, 9, 123)),
      baseUrl: 'https://127.0.0.1:8443',
    });
    expect(body).toEqual({
      error: 'invalid_client',
      error_description:
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '11111111-0000-4000-8000-000000000000'.\r\nTrace ID: trace\r\nCorrelation ID: correlation\r\nTimestamp: 2026-11-22 16:05:09Z",
      error_codes: [7000215],
      timestamp: '2026-11-22 16:05:09Z',
      trace_id: 'trace',
      correlation_id: 'correlation',
      error_uri: 'https://127.0.0.1:8443/error?code=7000215',
    });
  });

  it.each([
    ['unknown tenant', aadsts.tenantNotFound('t'), 90002, 'invalid_request', 400],
    ['unknown app', aadsts.applicationNotFound('a', 't'), 700016, 'unauthorized_client', 400],
    ['wrong secret', aadsts.invalidClientSecret('a'), 7000215, 'invalid_client', 401],
    ['no credential', aadsts.missingClientCredential(), 7000218, 'invalid_client', 401],
    ['missing parameter', aadsts.missingParameter('scope'), 900144, 'invalid_request', 400],
    ['unsupported grant', aadsts.unsupportedGrantType('password'), 70003, 'unsupported_grant_type', 400],
    ['bad scope', aadsts.invalidClientCredentialsScope('x'), 1002012, 'invalid_scope', 400],
    ['malformed assertion', aadsts.malformedAssertion(), 50027, 'invalid_request', 400],
    ['unknown certificate', aadsts.assertionKeyNotFound('t', 'a'), 700027, 'invalid_client', 401],
    ['bad signature', aadsts.assertionSignatureInvalid('t'), 700027, 'invalid_client', 401],
    ['assertion subject', aadsts.assertionSubjectMismatch(), 700021, 'invalid_client', 401],
    ['assertion audience', aadsts.assertionAudienceMismatch(), 700023, 'invalid_client', 401],
    ['assertion expired', aadsts.assertionOutsideValidity(new Date(0), undefined, new Date(0)), 700024, 'invalid_client', 401],
    ['no federated credentials', aadsts.noFederatedCredentials('c', 'n'), 70025, 'invalid_client', 401],
    ['federated issuer', aadsts.federatedIssuerMismatch('i'), 700211, 'invalid_client', 401],
    ['federated audience', aadsts.federatedAudienceMismatch('a'), 700212, 'invalid_client', 401],
    ['federated subject', aadsts.federatedSubjectMismatch('s'), 700213, 'invalid_client', 401],
    ['federated subject case', aadsts.federatedSubjectCaseMismatch('S'), 7002138, 'invalid_client', 401],
    ['OIDC endpoint', aadsts.oidcEndpointFailed(), 90061, 'invalid_request', 400],
    ['federated key', aadsts.federatedKeyNotFound('k', 'i'), 7000272, 'invalid_client', 401],
    ['federated signature', aadsts.federatedSignatureInvalid(), 700027, 'invalid_client', 401],
    ['internal', aadsts.internal(new Error('x')), 50000, 'server_error', 500],
  ])('%s: AADSTS%i %s → %i', (_name, error, code, oauthError, status) => {
    expect([error.aadsts, error.oauthError, error.statusCode]).toEqual([code, oauthError, status]);
    expect(error.message.startsWith(`AADSTS${code}: `)).toBe(true);
  });

  it('formats timestamps as Entra does', () => {
    expect(aadTimestamp(new Date(Date.UTC(2019, 8, 30, 20, 3, 53)))).toBe('2019-09-30 20:03:53Z');
  });
});
