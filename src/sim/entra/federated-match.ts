/**
 * Which federated identity credential an assertion's claims satisfy, and which refusal Entra ID gives
 * when none does — pure functions of the claims and the identity's credentials. Entra narrows the
 * credentials step by step and names the first claim that leaves none: the issuer (AADSTS700211),
 * then the subject (AADSTS700213, or AADSTS7002138 when only the case differs), then the audience
 * (AADSTS700212). All comparisons are exact and case-sensitive (since Entra's August 2024 change).
 * @module
 */
import type { FederatedIdentityCredential } from '../state/model.ts';
import { aadsts } from './aadsts.ts';

/** The claims of an assertion that select a credential. */
export interface AssertionIdentityClaims {
  readonly iss?: string;
  readonly sub?: string;
  /** A JWT `aud`: one string or several. */
  readonly aud?: string | readonly string[];
}

/** `aud` as a list. */
export function audiencesOf(claims: AssertionIdentityClaims): string[] {
  if (claims.aud === undefined) return [];
  return typeof claims.aud === 'string' ? [claims.aud] : [...claims.aud];
}

/** The credentials whose issuer is the assertion's; throws AADSTS700211 when there are none. */
export function credentialsForIssuer(claims: AssertionIdentityClaims, credentials: readonly FederatedIdentityCredential[]): FederatedIdentityCredential[] {
  const issuer = claims.iss ?? '';
  const matching = credentials.filter((credential) => credential.issuer === issuer);
  if (matching.length === 0) throw aadsts.federatedIssuerMismatch(issuer);
  return matching;
}

/**
 * The credential the assertion satisfies among `credentials` (already narrowed to its issuer); throws
 * the AADSTS error for the first claim that matches none.
 */
export function matchFederatedCredential(claims: AssertionIdentityClaims, credentials: readonly FederatedIdentityCredential[]): FederatedIdentityCredential {
  const forIssuer = credentialsForIssuer(claims, credentials);
  const subject = claims.sub ?? '';
  const forSubject = forIssuer.filter((credential) => credential.subject === subject);
  if (forSubject.length === 0) {
    const onlyCaseDiffers = forIssuer.some((credential) => credential.subject.toLowerCase() === subject.toLowerCase());
    throw onlyCaseDiffers ? aadsts.federatedSubjectCaseMismatch(subject) : aadsts.federatedSubjectMismatch(subject);
  }
  const audiences = audiencesOf(claims);
  const match = forSubject.find((credential) => credential.audiences.some((audience) => audiences.includes(audience)));
  if (match === undefined) throw aadsts.federatedAudienceMismatch(audiences.join(','));
  return match;
}
