/**
 * `GET /metadata/identity/oauth2/token` for one node: validate the request as IMDS does, pick the
 * identity among those on the node's VM or scale set, and return a (cached) token in IMDS's
 * all-strings JSON shape (azure-protocols.md §1).
 * @module
 */
import type { SimStore } from '../state/store.ts';
import { MANAGED_IDENTITY_TOKEN_LIFETIME_SECONDS, managedIdentityClaims } from '../tokens/claims.ts';
import type { TokenIssuer } from '../tokens/issuer.ts';
import { imdsErrors, isApiVersion } from './errors.ts';
import { queryParam } from './paths.ts';
import { availableIdentities, readIdentitySelector, selectIdentity } from './select-identity.ts';
import { ManagedIdentityTokenCache } from './token-cache.ts';

/** IMDS's success body: every value a JSON string (JS reads `expires_on`, MSAL-Python `expires_in`). */
export interface ImdsTokenResponse {
  access_token: string;
  client_id: string;
  expires_in: string;
  expires_on: string;
  ext_expires_in: string;
  not_before: string;
  /** Echoes the request's `resource` exactly: JS and Python cache by it. */
  resource: string;
  token_type: 'Bearer';
}

export interface IdentityTokenRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly query: URLSearchParams;
}

export interface IdentityEndpointDeps {
  readonly store: SimStore;
  readonly issuer: TokenIssuer;
  readonly nodeName: string;
  readonly cache: ManagedIdentityTokenCache;
}

/** `Metadata: true` (value compared case-insensitively). */
export function hasMetadataHeader(headers: IdentityTokenRequest['headers']): boolean {
  const value = headers['metadata'];
  return typeof value === 'string' && value.trim().toLowerCase() === 'true';
}

/** Answers a token request or throws the {@link ImdsError} real IMDS would send. */
export async function answerTokenRequest(request: IdentityTokenRequest, deps: IdentityEndpointDeps): Promise<ImdsTokenResponse> {
  // Order as IMDS checks: proxied requests, the SSRF header, then parameters, then the identity.
  if (request.headers['x-forwarded-for'] !== undefined) throw imdsErrors.forwardedRequest();
  if (!hasMetadataHeader(request.headers)) throw imdsErrors.identityMetadataHeaderMissing();
  if (!isApiVersion(queryParam(request.query, 'api-version'))) throw imdsErrors.apiVersionMissing();
  const resource = queryParam(request.query, 'resource');
  if (resource === undefined) throw imdsErrors.resourceMissing();

  const target = deps.store.findComputeByNodeName(deps.nodeName);
  if (target === undefined) throw imdsErrors.identityNotFound();
  const available = availableIdentities(target.resource, deps.store.assignedIdentities(target.resource));
  const selection = selectIdentity(readIdentitySelector(request.query), available);
  if (selection.kind === 'ambiguous') throw imdsErrors.multipleUserAssignedIdentities();
  if (selection.kind === 'not-found') throw imdsErrors.identityNotFound();
  const { identity } = selection;

  const key = ManagedIdentityTokenCache.key({
    clientId: identity.clientId,
    principalId: identity.principalId,
    identityResourceId: identity.resourceId,
    computeResourceId: target.resource.id,
    resource,
  });
  const issued = await deps.cache.getOrIssue(
    key,
    () => deps.issuer.nowSeconds(),
    () =>
      deps.issuer.sign(
        managedIdentityClaims({ tenantId: deps.store.tenantId, identity, resource, computeResourceId: target.resource.id }),
        MANAGED_IDENTITY_TOKEN_LIFETIME_SECONDS,
      ),
  );
  const expiresIn = String(issued.expiresOn - deps.issuer.nowSeconds());
  return {
    access_token: issued.token,
    client_id: identity.clientId,
    expires_in: expiresIn,
    expires_on: String(issued.expiresOn),
    ext_expires_in: expiresIn,
    not_before: String(issued.notBefore),
    resource,
    token_type: 'Bearer',
  };
}
