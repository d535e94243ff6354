/**
 * Verifies a federated client assertion (an external OIDC issuer's JWT, e.g. a Kubernetes
 * service-account token) for a user-assigned identity the way Entra ID does: the identity must have
 * federated credentials, one of them for the assertion's issuer; the signature must verify with a key
 * the issuer publishes (discovery + JWKS, fetched and cached by {@link OidcKeyCache}); the assertion
 * must be within its lifetime; and its subject and audience must match that credential. Every refusal
 * is the {@link AadstsError} Entra sends.
 * @module
 */
import { compactVerify, createLocalJWKSet, errors as joseErrors } from 'jose';
import type { FederatedIdentityCredential, UserAssignedIdentity } from '../state/model.ts';
import { aadsts } from './aadsts.ts';
import { checkAssertionLifetime } from './assertion-lifetime.ts';
import { decodeAssertion } from './client-assertion.ts';
import { credentialsForIssuer, matchFederatedCredential } from './federated-match.ts';
import { hasKey, type OidcKeyCache } from './oidc-key-cache.ts';

/** Asymmetric JWS algorithms an OIDC issuer signs with (Kubernetes: RS256 or ES256). */
const FEDERATED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];

export interface FederatedAssertionCheck {
  readonly assertion: string;
  readonly identity: UserAssignedIdentity;
  readonly keys: OidcKeyCache;
  /** Epoch seconds. */
  readonly nowSeconds: number;
}

/** The credential that admits the assertion; throws the matching {@link AadstsError} otherwise. */
export async function verifyFederatedAssertion(check: FederatedAssertionCheck): Promise<FederatedIdentityCredential> {
  const { header, payload } = decodeAssertion(check.assertion);
  const credentials = check.identity.federatedIdentityCredentials ?? [];
  if (credentials.length === 0) throw aadsts.noFederatedCredentials(check.identity.clientId, check.identity.name);
  const claims = {
    ...(typeof payload.iss === 'string' ? { iss: payload.iss } : {}),
    ...(typeof payload.sub === 'string' ? { sub: payload.sub } : {}),
    ...(payload.aud !== undefined ? { aud: payload.aud } : {}),
  };
  // Only an issuer some credential trusts is ever contacted.
  const issuer = credentialsForIssuer(claims, credentials)[0]?.issuer ?? '';

  const keyId = typeof header.kid === 'string' ? header.kid : undefined;
  let jwks;
  try {
    jwks = await check.keys.keysFor(issuer, keyId);
  } catch (error) {
    throw aadsts.oidcEndpointFailed(error);
  }
  if (keyId !== undefined && !hasKey(jwks, keyId)) throw aadsts.federatedKeyNotFound(keyId, issuer);
  try {
    await compactVerify(check.assertion, createLocalJWKSet(jwks), { algorithms: FEDERATED_ALGORITHMS });
  } catch (error) {
    if (error instanceof joseErrors.JWKSNoMatchingKey) throw aadsts.federatedKeyNotFound(keyId ?? '', issuer);
    throw aadsts.federatedSignatureInvalid(error);
  }

  checkAssertionLifetime(payload, check.nowSeconds);
  return matchFederatedCredential(claims, credentials);
}
