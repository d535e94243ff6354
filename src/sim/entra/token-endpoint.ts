/**
 * The client-credentials grant of the simulated v1 and v2 token endpoints: authenticate the app with
 * its secret or certificate assertion, then sign a token for the requested resource. Throws
 * {@link AadstsError} for every refusal.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServicePrincipal } from '../state/model.ts';
import type { SimStore } from '../state/store.ts';
import { SERVICE_PRINCIPAL_TOKEN_LIFETIME_SECONDS, servicePrincipalClaims, type ClientCredentialKind } from '../tokens/claims.ts';
import type { TokenIssuer } from '../tokens/issuer.ts';
import { aadsts } from './aadsts.ts';
import { isTokenEndpointAudience, verifyClientAssertion } from './client-assertion.ts';
import { parseClientCredentialsRequest, type ClientCredential, type TokenEndpointVersion } from './token-request.ts';

/** v2 success body: numbers, no resource (MSAL also accepts numeric strings). */
export interface V2TokenResponse {
  token_type: 'Bearer';
  expires_in: number;
  ext_expires_in: number;
  access_token: string;
}

/** v1 success body: every value a string, the same shape IMDS returns. */
export interface V1TokenResponse {
  token_type: 'Bearer';
  expires_in: string;
  ext_expires_in: string;
  expires_on: string;
  not_before: string;
  resource: string;
  access_token: string;
}

export interface ClientCredentialsGrant {
  readonly store: SimStore;
  readonly issuer: TokenIssuer;
  readonly version: TokenEndpointVersion;
  /** The resolved tenant ID. */
  readonly tenantId: string;
  /** The `{tenant}` path segment as sent (an assertion's `aud` may use it instead of the GUID). */
  readonly tenantSegment: string;
  /** host[:port] values under which clients reach this server (for the assertion's `aud`). */
  readonly hosts: readonly string[];
  readonly form: URLSearchParams;
}

/** What the route logs about a grant (never the secret or the assertion). */
export interface GrantOutcome {
  readonly body: V1TokenResponse | V2TokenResponse;
  readonly appId: string;
  readonly credential: ClientCredentialKind;
  readonly audience: string;
}

export async function grantClientCredentials(grant: ClientCredentialsGrant): Promise<GrantOutcome> {
  const request = parseClientCredentialsRequest(grant.form, grant.version);
  const principal = grant.store.getServicePrincipal(request.clientId);
  if (principal === undefined || principal.tenantId.toLowerCase() !== grant.tenantId.toLowerCase()) {
    throw aadsts.applicationNotFound(request.clientId, grant.tenantId);
  }
  const credential = await authenticate(principal, request.credential, grant);

  const claims = servicePrincipalClaims({
    tenantId: grant.tenantId,
    appId: principal.appId,
    objectId: principal.objectId,
    audience: request.audience,
    credential,
  });
  const issued = await grant.issuer.sign(claims, SERVICE_PRINCIPAL_TOKEN_LIFETIME_SECONDS);
  const expiresIn = issued.expiresOn - grant.issuer.nowSeconds();
  const body: V1TokenResponse | V2TokenResponse =
    grant.version === 'v2'
      ? { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: issued.token }
      : {
          token_type: 'Bearer',
          expires_in: String(expiresIn),
          ext_expires_in: String(expiresIn),
          expires_on: String(issued.expiresOn),
          not_before: String(issued.notBefore),
          resource: request.resource,
          access_token: issued.token,
        };
  return { body, appId: principal.appId, credential, audience: request.audience };
}

async function authenticate(principal: ServicePrincipal, credential: ClientCredential, grant: ClientCredentialsGrant): Promise<ClientCredentialKind> {
  if (credential.kind === 'secret') {
    if (!principal.secrets.some((secret) => sameSecret(secret, credential.secret))) throw aadsts.invalidClientSecret(principal.appId);
    return 'secret';
  }
  await verifyClientAssertion({
    assertion: credential.assertion,
    clientId: principal.appId,
    certificatesPem: principal.certificatesPem,
    isAcceptedAudience: (audience) => isTokenEndpointAudience(audience, grant.hosts, [grant.tenantId, grant.tenantSegment]),
    nowSeconds: grant.issuer.nowSeconds(),
  });
  return 'certificate';
}

/** Constant-time comparison (hashes first, so lengths may differ). */
function sameSecret(expected: string, given: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(expected), digest(given));
}
