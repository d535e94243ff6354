import { describe, expect, it } from 'vitest';
import { ArmError } from '../../../../src/sim/arm/errors.ts';
import {
  checkFederatedCredentialApiVersion,
  checkFederatedCredentialName,
  checkFederatedCredentialWrite,
  parseFederatedCredentialBody,
} from '../../../../src/sim/arm/federated-credential-rules.ts';
import type { FederatedIdentityCredential } from '../../../../src/sim/state/model.ts';

const ISSUER = 'https://oidc.example/issuer';
const IDENTITY = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app';

/** The ArmError `run` throws, or undefined when it passes. */
function refusalOf(run: () => unknown): ArmError | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof ArmError) return error;
    throw error;
  }
}

function required(error: ArmError | undefined): ArmError {
  if (error === undefined) throw new Error('expected an ArmError');
  return error;
}

const armError = (run: () => unknown): ArmError => required(refusalOf(run));

const apiVersionRefusal = (version: string): ArmError | undefined =>
  refusalOf(() => {
    checkFederatedCredentialApiVersion(version, 'westeurope');
  });
const nameRefusal = (name: string): ArmError | undefined =>
  refusalOf(() => {
    checkFederatedCredentialName(name);
  });
const writeRefusal = (existing: readonly FederatedIdentityCredential[], written: FederatedIdentityCredential): ArmError | undefined =>
  refusalOf(() => {
    checkFederatedCredentialWrite(IDENTITY, existing, written);
  });

const credential = (name: string, subject: string, issuer = ISSUER): FederatedIdentityCredential => ({ name, issuer, subject, audiences: ['api://AzureADTokenExchange'] });

describe('federated credential api-versions', () => {
  it.each(['2023-01-31', '2023-07-31-preview', '2024-11-30', '2025-01-31-preview', '2031-01-01'])('serves %s', (version) => {
    expect(apiVersionRefusal(version)).toBeUndefined();
  });

  it.each(['2022-01-31-preview', '2018-11-30', 'latest', ''])('refuses %s with NoRegisteredProviderFound', (version) => {
    const error = required(apiVersionRefusal(version));
    expect([error.status, error.code]).toEqual([400, 'NoRegisteredProviderFound']);
    expect(error.message).toMatch(
      new RegExp(`^No registered resource provider found for location 'westeurope' and API version '${version}' for type 'userAssignedIdentities/federatedIdentityCredentials'\\. The supported api-versions are '2023-01-31, 2023-07-31-preview, 2024-11-30, 2025-01-31-preview'\\. The supported locations are '.*westeurope.*'\\.$`),
    );
  });
});

describe('federated credential names and bodies', () => {
  it.each(['abc', 'kube-nmi_1', 'A'.repeat(120)])('accepts the name %s', (name) => {
    expect(nameRefusal(name)).toBeUndefined();
  });

  it.each(['ab', '-abc', '_abc', 'a.b.c', 'a b c', 'A'.repeat(121)])('refuses the name %s', (name) => {
    expect(nameRefusal(name)).toMatchObject({ status: 400, code: 'BadRequest', message: `Federated Identity Credential name '${name}' is invalid.` });
  });

  it('reads the arm-msi body', () => {
    expect(parseFederatedCredentialBody('nmi', { properties: { issuer: ISSUER, subject: 'system:serviceaccount:kube-system:nmi', audiences: ['api://AzureADTokenExchange'] } })).toEqual({
      name: 'nmi',
      issuer: ISSUER,
      subject: 'system:serviceaccount:kube-system:nmi',
      audiences: ['api://AzureADTokenExchange'],
    });
  });

  it.each([
    ['no body', undefined],
    ['no properties', {}],
    ['no issuer', { properties: { subject: 's', audiences: ['a'] } }],
    ['an empty subject', { properties: { issuer: ISSUER, subject: ' ', audiences: ['a'] } }],
    ['no audiences', { properties: { issuer: ISSUER, subject: 's' } }],
    ['empty audiences', { properties: { issuer: ISSUER, subject: 's', audiences: [] } }],
  ])('refuses %s: issuer, subject and audience are required', (_name, body) => {
    expect(armError(() => parseFederatedCredentialBody('nmi', body))).toMatchObject({
      status: 400,
      code: 'BadRequest',
      message: "The request format was unexpected. Federated Identity Credential must specify 'issuer', 'subject' and 'audience'.",
    });
  });

  it('refuses more than one audience', () => {
    const error = armError(() => parseFederatedCredentialBody('nmi', { properties: { issuer: ISSUER, subject: 's', audiences: ['a', 'b'] } }));
    expect(error).toMatchObject({ status: 400, message: 'Federated identity credentials must have exactly 1 audience.' });
  });

  it.each(['http://oidc.example', 'oidc.example', 'ftp://oidc.example'])('refuses the issuer %s (https only)', (issuer) => {
    const error = armError(() => parseFederatedCredentialBody('nmi', { properties: { issuer, subject: 's', audiences: ['a'] } }));
    expect([error.status, error.code]).toEqual([400, 'BadRequest']);
    expect(error.message).toContain(`issuer '${issuer}' must be a URL with the https scheme`);
  });
});

describe('writes next to the identity’s other credentials', () => {
  it('refuses a second credential with the same issuer and subject (409 Conflict), not an update of the same one', () => {
    const existing = [credential('first', 'sub-a')];
    expect(writeRefusal(existing, credential('second', 'sub-a'))).toMatchObject({
      status: 409,
      code: 'Conflict',
      message: 'Issuer and subject combination already exists for this Managed Identity.',
    });
    expect(writeRefusal(existing, credential('FIRST', 'sub-a'))).toBeUndefined();
    // Matching is exact: another case is another subject, another issuer another pair.
    expect(writeRefusal(existing, credential('second', 'SUB-A'))).toBeUndefined();
    expect(writeRefusal(existing, credential('second', 'sub-a', `${ISSUER}/`))).toBeUndefined();
  });

  it('allows 20 credentials and updates of them, refuses the 21st', () => {
    const twenty = Array.from({ length: 20 }, (_, index) => credential(`fic-${index}`, `sub-${index}`));
    expect(writeRefusal(twenty.slice(0, 19), credential('fic-19', 'sub-19'))).toBeUndefined();
    expect(writeRefusal(twenty, credential('fic-3', 'sub-new'))).toBeUndefined();
    const error = required(writeRefusal(twenty, credential('fic-20', 'sub-20')));
    expect([error.status, error.code]).toEqual([400, 'BadRequest']);
    expect(error.message).toMatch(/^Too many Federated Identity Credentials /);
    expect(error.message).toContain(IDENTITY.toLowerCase());
  });
});
