/**
 * The client-credentials grant of the simulated v1 and v2 token endpoints: authenticate the app with
 * its secret or certificate assertion — or a user-assigned identity with a federated assertion
 * (workload identity federation) — then sign a token for the requested resource. Throws
 * {@link AadstsError} for every refusal.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServicePrincipal, UserAssignedIdentity } from '../state/model.ts';
import type { SimStore } from '../state/store.ts';
import {
  federatedIdentityClaims,
  MANAGED_IDENTITY_TOKEN_LIFETIME_SECONDS,
  SERVICE_PRINCIPAL_TOKEN_LIFETIME_SECONDS,
  servicePrincipalClaims,
  type ClientCredentialKind,
} from '../tokens/claims.ts';
import type { AccessTokenClaims, IssuedToken, TokenIssuer } from '../tokens/issuer.ts';
import { aadsts } from './aadsts.ts';
import { isTokenEndpointAudience, verifyClientAssertion } from './client-assertion.ts';
import { verifyFederatedAssertion } from './federated-assertion.ts';
import type { OidcKeyCache } from './oidc-key-cache.ts';
import { parseClientCredentialsRequest, type ClientCredential, type ClientCredentialsRequest, type TokenEndpointVersion } from './token-request.ts';

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
  /** OIDC issuers' keys, for federated assertions. */
  readonly oidcKeys: OidcKeyCache;
}

/** How the client authenticated: a service principal's secret or certificate, or an identity's federated assertion. */
export type GrantCredentialKind = ClientCredentialKind | 'federated';

/** What the route logs about a grant (never the secret or the assertion). */
export interface GrantOutcome {
  readonly body: V1TokenResponse | V2TokenResponse;
  readonly appId: string;
  readonly credential: GrantCredentialKind;
  readonly audience: string;
  /** For a federated assertion: the credential that admitted it. */
  readonly federatedCredential?: string;
}

export async function grantClientCredentials(grant: ClientCredentialsGrant): Promise<GrantOutcome> {
  const request = parseClientCredentialsRequest(grant.form, grant.version);
  const sameTenant = (tenantId: string): boolean => tenantId.toLowerCase() === grant.tenantId.toLowerCase();
  const principal = grant.store.getServicePrincipal(request.clientId);
  if (principal !== undefined && sameTenant(principal.tenantId)) return grantServicePrincipal(grant, request, principal);
  const identity = grant.store.findIdentity({ clientId: request.clientId });
  if (identity !== undefined && sameTenant(identity.tenantId)) return grantFederatedIdentity(grant, request, identity);
  throw aadsts.applicationNotFound(request.clientId, grant.tenantId);
}

async function grantServicePrincipal(grant: ClientCredentialsGrant, request: ClientCredentialsRequest, principal: ServicePrincipal): Promise<GrantOutcome> {
  const credential = await authenticate(principal, request.credential, grant);
  const claims = servicePrincipalClaims({
    tenantId: grant.tenantId,
    appId: principal.appId,
    objectId: principal.objectId,
    audience: request.audience,
    credential,
  });
  const body = await tokenResponse(grant, request, claims, SERVICE_PRINCIPAL_TOKEN_LIFETIME_SECONDS);
  return { body, appId: principal.appId, credential, audience: request.audience };
}

/**
 * A user-assigned identity's client ID: only a federated assertion authenticates it (a managed
 * identity has no secrets). Its token carries the identity's IDs as its IMDS tokens do and lives as
 * long (managed-identity tokens: about 24 h).
 */
async function grantFederatedIdentity(grant: ClientCredentialsGrant, request: ClientCredentialsRequest, identity: UserAssignedIdentity): Promise<GrantOutcome> {
  if (request.credential.kind !== 'assertion') throw aadsts.invalidClientSecret(identity.clientId);
  const admitted = await verifyFederatedAssertion({ assertion: request.credential.assertion, identity, keys: grant.oidcKeys, nowSeconds: grant.issuer.nowSeconds() });
  const claims = federatedIdentityClaims({
    tenantId: grant.tenantId,
    identity: { clientId: identity.clientId, principalId: identity.principalId, resourceId: identity.id },
    audience: request.audience,
  });
  const body = await tokenResponse(grant, request, claims, MANAGED_IDENTITY_TOKEN_LIFETIME_SECONDS);
  return { body, appId: identity.clientId, credential: 'federated', audience: request.audience, federatedCredential: admitted.name };
}

/** Signs `claims` and shapes the endpoint's answer (v2: numbers, v1: strings with `resource`). */
async function tokenResponse(grant: ClientCredentialsGrant, request: ClientCredentialsRequest, claims: AccessTokenClaims, lifetimeSeconds: number): Promise<V1TokenResponse | V2TokenResponse> {
  const issued: IssuedToken = await grant.issuer.sign(claims, lifetimeSeconds);
  const expiresIn = issued.expiresOn - grant.issuer.nowSeconds();
  return grant.version === 'v2'
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
