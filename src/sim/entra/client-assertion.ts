/**
 * Verifies a certificate client assertion (RFC 7523 JWT) the way Entra ID does: the header's
 * thumbprint (`x5t#S256` from MSAL-node 5+ with PS256, or `x5t` SHA-1 with RS256 from older clients)
 * picks one of the app's registered certificates, whose public key must verify the signature; then
 * `iss` = `sub` = client ID, `aud` = this tenant's token endpoint, and now within `nbf`..`exp`.
 * @module
 */
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { aadsts } from './aadsts.ts';
import { checkAssertionLifetime } from './assertion-lifetime.ts';

/** Signature algorithms MSAL uses for certificate assertions. */
const ASSERTION_ALGORITHMS = ['PS256', 'RS256'];

export interface ClientAssertionCheck {
  readonly assertion: string;
  readonly clientId: string;
  /** PEM certificates registered on the app. */
  readonly certificatesPem: readonly string[];
  /** True when `aud` names this tenant's v1 or v2 token endpoint. */
  readonly isAcceptedAudience: (audience: string) => boolean;
  /** Epoch seconds. */
  readonly nowSeconds: number;
}

interface RegisteredKey {
  readonly sha1: string;
  readonly sha256: string;
  readonly publicKey: KeyObject;
}

const keysByPem = new Map<string, RegisteredKey>();

function registeredKey(certPem: string): RegisteredKey {
  let key = keysByPem.get(certPem);
  if (key === undefined) {
    const cert = new X509Certificate(certPem);
    key = {
      sha1: createHash('sha1').update(cert.raw).digest('base64url'),
      sha256: createHash('sha256').update(cert.raw).digest('base64url'),
      publicKey: cert.publicKey,
    };
    keysByPem.set(certPem, key);
  }
  return key;
}

/** Header and claims of an assertion, unverified; AADSTS50027 when it is not a JWT. */
export function decodeAssertion(assertion: string): { header: ProtectedHeaderParameters; payload: JWTPayload } {
  try {
    return { header: decodeProtectedHeader(assertion), payload: decodeJwt(assertion) };
  } catch (error) {
    throw aadsts.malformedAssertion(error);
  }
}

/** Resolves when the assertion authenticates `clientId`; throws the matching {@link AadstsError} otherwise. */
export async function verifyClientAssertion(check: ClientAssertionCheck): Promise<void> {
  const { header, payload } = decodeAssertion(check.assertion);
  const sha256 = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  const sha1 = typeof header.x5t === 'string' ? header.x5t : undefined;
  const thumbprint = sha256 ?? sha1 ?? '';
  const key = check.certificatesPem
    .map(registeredKey)
    .find((candidate) => (sha256 !== undefined && candidate.sha256 === sha256) || (sha1 !== undefined && candidate.sha1 === sha1));
  if (key === undefined) throw aadsts.assertionKeyNotFound(thumbprint, check.clientId);

  try {
    await compactVerify(check.assertion, key.publicKey, { algorithms: ASSERTION_ALGORITHMS });
  } catch (error) {
    throw aadsts.assertionSignatureInvalid(thumbprint, error);
  }

  if (payload.iss !== check.clientId || payload.sub !== check.clientId) throw aadsts.assertionSubjectMismatch();
  const audiences = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
  if (!audiences.some(check.isAcceptedAudience)) throw aadsts.assertionAudienceMismatch();

  checkAssertionLifetime(payload, check.nowSeconds);
}

/**
 * Whether an assertion's `aud` names the token endpoint of `tenants` on one of `hosts`: v1
 * (`/oauth2/token`) or v2 (`/oauth2/v2.0/token`), compared case-insensitively, ignoring a trailing
 * slash and any query string (MSAL-node uses the discovered `token_endpoint` verbatim).
 */
export function isTokenEndpointAudience(audience: string, hosts: readonly string[], tenants: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(audience);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' || !hosts.some((host) => host.toLowerCase() === url.host.toLowerCase())) return false;
  const path = url.pathname.toLowerCase().replace(/\/+$/, '');
  return tenants.some((tenant) => {
    const base = `/${tenant.toLowerCase()}/oauth2`;
    return path === `${base}/token` || path === `${base}/v2.0/token`;
  });
}
