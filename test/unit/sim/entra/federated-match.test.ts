import { describe, expect, it } from 'vitest';
import { AadstsError } from '../../../../src/sim/entra/aadsts.ts';
import { checkAssertionLifetime } from '../../../../src/sim/entra/assertion-lifetime.ts';
import { audiencesOf, matchFederatedCredential, type AssertionIdentityClaims } from '../../../../src/sim/entra/federated-match.ts';
import type { FederatedIdentityCredential } from '../../../../src/sim/state/model.ts';

const ISSUER = 'https://127.0.0.1:6443';
const NMI = 'system:serviceaccount:kube-system:nmi';
const EXCHANGE = 'api://AzureADTokenExchange';
const CREDENTIALS: FederatedIdentityCredential[] = [
  { name: 'nmi', issuer: ISSUER, subject: NMI, audiences: [EXCHANGE] },
  { name: 'other-cluster', issuer: 'https://other.example', subject: NMI, audiences: [EXCHANGE] },
  { name: 'custom-audience', issuer: ISSUER, subject: 'system:serviceaccount:apps:web', audiences: ['api://custom'] },
];

function refusal(claims: AssertionIdentityClaims): AadstsError {
  try {
    matchFederatedCredential(claims, CREDENTIALS);
  } catch (error) {
    if (error instanceof AadstsError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('matchFederatedCredential', () => {
  it('finds the credential of the issuer, subject and audience (aud as a string or a list)', () => {
    expect(matchFederatedCredential({ iss: ISSUER, sub: NMI, aud: EXCHANGE }, CREDENTIALS).name).toBe('nmi');
    expect(matchFederatedCredential({ iss: ISSUER, sub: NMI, aud: ['https://kubernetes.default.svc', EXCHANGE] }, CREDENTIALS).name).toBe('nmi');
    expect(matchFederatedCredential({ iss: 'https://other.example', sub: NMI, aud: EXCHANGE }, CREDENTIALS).name).toBe('other-cluster');
    expect(matchFederatedCredential({ iss: ISSUER, sub: 'system:serviceaccount:apps:web', aud: 'api://custom' }, CREDENTIALS).name).toBe('custom-audience');
  });

  it('an unknown issuer (even one slash off): AADSTS700211 naming it', () => {
    const error = refusal({ iss: `${ISSUER}/`, sub: NMI, aud: EXCHANGE });
    expect([error.aadsts, error.oauthError, error.statusCode]).toEqual([700211, 'invalid_client', 401]);
    expect(error.message).toBe(
      `AADSTS700211: No matching federated identity record found for presented assertion issuer '${ISSUER}/'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation`,
    );
  });

  it('a subject no credential of the issuer has: AADSTS700213; one differing only in case: AADSTS7002138', () => {
    const other = refusal({ iss: ISSUER, sub: 'system:serviceaccount:kube-system:mic', aud: EXCHANGE });
    expect([other.aadsts, other.statusCode]).toEqual([700213, 401]);
    expect(other.message).toBe(
      "AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:kube-system:mic'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
    );
    const cased = refusal({ iss: ISSUER, sub: NMI.toUpperCase(), aud: EXCHANGE });
    expect(cased.aadsts).toBe(7002138);
    expect(cased.message).toContain('The subject matches with case-insensitive comparison, but not with case-sensitive comparison.');
  });

  it('an audience the matching credential lacks: AADSTS700212 naming the assertion’s audience', () => {
    const error = refusal({ iss: ISSUER, sub: NMI, aud: ['https://kubernetes.default.svc'] });
    expect([error.aadsts, error.statusCode]).toEqual([700212, 401]);
    expect(error.message).toContain("presented assertion audience 'https://kubernetes.default.svc'");
  });

  it('missing claims count as empty values', () => {
    expect(refusal({}).aadsts).toBe(700211);
    expect(refusal({ iss: ISSUER }).aadsts).toBe(700213);
    expect(refusal({ iss: ISSUER, sub: NMI }).aadsts).toBe(700212);
    expect(audiencesOf({})).toEqual([]);
  });
});

describe('checkAssertionLifetime', () => {
  const NOW = 1_800_000_000;
  const lifetimeError = (claims: { nbf?: number; exp?: number }): AadstsError | undefined => {
    try {
      checkAssertionLifetime(claims, NOW);
      return undefined;
    } catch (error) {
      return error as AadstsError;
    }
  };

  it('accepts a live assertion and five minutes of skew either way', () => {
    expect(lifetimeError({ nbf: NOW - 10, exp: NOW + 3600 })).toBeUndefined();
    expect(lifetimeError({ nbf: NOW + 299, exp: NOW + 3600 })).toBeUndefined();
    expect(lifetimeError({ exp: NOW - 299 })).toBeUndefined();
  });

  it('refuses expired, not yet valid and exp-less assertions with AADSTS700024 in Entra’s wording', () => {
    const expired = lifetimeError({ nbf: NOW - 7200, exp: NOW - 3600 });
    expect([expired?.aadsts, expired?.statusCode]).toEqual([700024, 401]);
    expect(expired?.message).toBe(
      'AADSTS700024: Client assertion is not within its valid time range. Current time: 2027-01-15T08:00:00.0000000Z, assertion valid from 2027-01-15T06:00:00.0000000Z, expiry time of assertion 2027-01-15T07:00:00.0000000Z. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials',
    );
    expect(lifetimeError({ nbf: NOW + 600, exp: NOW + 3600 })?.aadsts).toBe(700024);
    expect(lifetimeError({ nbf: NOW })?.message).toContain('expiry time of assertion 1970-01-01T00:00:00.0000000Z');
  });
});
