import { describe, expect, it } from 'vitest';
import { AadstsError } from '../../../../src/sim/entra/aadsts.ts';
import { formFields, JWT_BEARER_ASSERTION_TYPE, parseClientCredentialsRequest } from '../../../../src/sim/entra/token-request.ts';

const form = (fields: Record<string, string>): URLSearchParams => new URLSearchParams(fields);
const base = { grant_type: 'client_credentials', client_id: 'app' };

describe('parseClientCredentialsRequest', () => {
  it('v2: scope X/.default → audience X, with a secret', () => {
    expect(parseClientCredentialsRequest(form({ ...base, scope: 'https://management.azure.com/.default', client_secret: 's3cret' }), 'v2')).toEqual({
      clientId: 'app',
      audience: 'https://management.azure.com',
      resource: 'https://management.azure.com',
      credential: { kind: 'secret', secret: 's3cret' },
    });
  });

  it('v1: resource taken verbatim, with an assertion', () => {
    expect(
      parseClientCredentialsRequest(form({ ...base, resource: 'https://management.core.windows.net/', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: 'a.b.c' }), 'v1'),
    ).toEqual({
      clientId: 'app',
      audience: 'https://management.core.windows.net/',
      resource: 'https://management.core.windows.net/',
      credential: { kind: 'assertion', assertion: 'a.b.c' },
    });
  });

  it.each([
    ['no grant_type', { client_id: 'app', scope: 'x/.default', client_secret: 's' }, 'v2', 900144, "'grant_type'"],
    ['another grant', { ...base, grant_type: 'password', scope: 'x/.default', client_secret: 's' }, 'v2', 70003, "'password'"],
    ['no client_id', { grant_type: 'client_credentials', scope: 'x/.default', client_secret: 's' }, 'v2', 900144, "'client_id'"],
    ['v2 without scope', { ...base, client_secret: 's' }, 'v2', 900144, "'scope'"],
    ['v2 scope without /.default', { ...base, scope: 'https://graph.microsoft.com/User.Read', client_secret: 's' }, 'v2', 1002012, 'User.Read'],
    ['v1 without resource', { ...base, scope: 'x/.default', client_secret: 's' }, 'v1', 900144, "'resource'"],
    ['no credential', { ...base, scope: 'x/.default' }, 'v2', 7000218, 'client_secret'],
    ['assertion type without assertion', { ...base, scope: 'x/.default', client_assertion_type: JWT_BEARER_ASSERTION_TYPE }, 'v2', 900144, "'client_assertion'"],
    ['unknown assertion type', { ...base, scope: 'x/.default', client_assertion_type: 'urn:other', client_assertion: 'a' }, 'v2', 7000212, 'urn:other'],
  ] as const)('%s → AADSTS%i', (_name, fields, version, code, mention) => {
    let caught: unknown;
    try {
      parseClientCredentialsRequest(form(fields), version);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AadstsError);
    expect((caught as AadstsError).aadsts).toBe(code);
    expect((caught as AadstsError).message).toContain(mention);
  });
});

describe('formFields', () => {
  const FORM = 'application/x-www-form-urlencoded; charset=utf-8';
  it('reads form bodies only', () => {
    const params = new URLSearchParams('a=1');
    expect(formFields(FORM, params)).toBe(params);
    expect(formFields('Application/X-WWW-Form-Urlencoded', { a: '1', b: 2 }).toString()).toBe('a=1');
    expect(formFields('application/json', { grant_type: 'client_credentials' }).toString()).toBe('');
    expect(formFields(undefined, params).toString()).toBe('');
    expect(formFields(FORM, 'a=1').toString()).toBe('');
  });
});
