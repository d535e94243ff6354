/**
 * Pure builders of access-token claims for the two kinds of principal the simulator issues tokens to:
 * managed identities (through IMDS) and service principals (through the Entra ID token endpoints).
 * Shapes follow decoded real tokens (shared/reference/azure-protocols.md §6): v1 tokens, `iss`
 * `https://sts.windows.net/{tid}/`, `oid` = `sub` = the principal's object ID, `appid` its client ID.
 * `iat`/`nbf`/`exp` are added by {@link TokenIssuer.sign}.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { AccessTokenClaims } from './issuer.ts';

/** IMDS tokens live about a day (real ones: exp − iat ≈ 86 400–86 700 s). */
export const MANAGED_IDENTITY_TOKEN_LIFETIME_SECONDS = 86_399;
/** Client-credential tokens from Entra ID: `expires_in` 3599. */
export const SERVICE_PRINCIPAL_TOKEN_LIFETIME_SECONDS = 3_599;

/** The v1 issuer Entra ID puts in tokens for resources such as ARM. */
export function v1Issuer(tenantId: string): string {
  return `https://sts.windows.net/${tenantId}/`;
}

/** A managed identity as IMDS hands it out: user-assigned, or the system-assigned one of a VM/VMSS. */
export interface ManagedIdentityPrincipal {
  readonly clientId: string;
  readonly principalId: string;
  /** `xms_mirid`: the user-assigned identity's ARM ID, or the VM/VMSS ID for a system-assigned identity. */
  readonly resourceId: string;
}

/** Input of {@link managedIdentityClaims}. */
export interface ManagedIdentityTokenRequest {
  readonly tenantId: string;
  readonly identity: ManagedIdentityPrincipal;
  /** The `resource` query parameter exactly as sent: it becomes `aud` unchanged. */
  readonly resource: string;
  /** ARM ID of the VM or scale set whose IMDS answered (`xms_az_rid`). */
  readonly computeResourceId: string;
}

/** Claims of a managed-identity token (what IMDS returns). */
export function managedIdentityClaims(request: ManagedIdentityTokenRequest): AccessTokenClaims {
  return {
    ...commonClaims(request.tenantId, request.resource),
    appid: request.identity.clientId,
    appidacr: '2',
    oid: request.identity.principalId,
    sub: request.identity.principalId,
    xms_mirid: request.identity.resourceId,
    xms_az_rid: request.computeResourceId,
  };
}

/** Input of {@link federatedIdentityClaims}. */
export interface FederatedIdentityTokenRequest {
  readonly tenantId: string;
  readonly identity: ManagedIdentityPrincipal;
  /** The resource (v1 `resource`, or the v2 scope without `/.default`). */
  readonly audience: string;
}

/**
 * Claims of the token Entra ID issues to a user-assigned identity for a federated assertion: the
 * identity's IDs as in its IMDS tokens (`appid` and `azp` its client ID, `oid`/`sub` its principal,
 * `xms_mirid` its resource ID), without `xms_az_rid` (no VM asked); `appidacr` "2" (an assertion).
 */
export function federatedIdentityClaims(request: FederatedIdentityTokenRequest): AccessTokenClaims {
  return {
    ...commonClaims(request.tenantId, request.audience),
    appid: request.identity.clientId,
    azp: request.identity.clientId,
    appidacr: '2',
    oid: request.identity.principalId,
    sub: request.identity.principalId,
    xms_mirid: request.identity.resourceId,
  };
}

/** How a service principal proved who it is: `appidacr` "1" for a secret, "2" for a certificate. */
export type ClientCredentialKind = 'secret' | 'certificate';

/** Input of {@link servicePrincipalClaims}. */
export interface ServicePrincipalTokenRequest {
  readonly tenantId: string;
  readonly appId: string;
  readonly objectId: string;
  /** The resource (v1 `resource`, or the v2 scope without `/.default`). */
  readonly audience: string;
  readonly credential: ClientCredentialKind;
}

/**
 * Claims of a client-credentials token. Always the v1 format: resources such as ARM accept v1 tokens,
 * and Entra issues the format the resource asks for whichever endpoint (v1 or v2) was called.
 */
export function servicePrincipalClaims(request: ServicePrincipalTokenRequest): AccessTokenClaims {
  return {
    ...commonClaims(request.tenantId, request.audience),
    appid: request.appId,
    appidacr: request.credential === 'secret' ? '1' : '2',
    oid: request.objectId,
    sub: request.objectId,
  };
}

/** Claims every token carries whoever it is for. */
interface CommonClaims {
  aud: string;
  iss: string;
  idp: string;
  idtyp: string;
  tid: string;
  ver: string;
  aio: string;
  rh: string;
  uti: string;
}

function commonClaims(tenantId: string, audience: string): CommonClaims {
  return {
    aud: audience,
    iss: v1Issuer(tenantId),
    idp: v1Issuer(tenantId),
    idtyp: 'app',
    tid: tenantId,
    ver: '1.0',
    // Opaque values real tokens carry; random so every token is distinct.
    aio: opaque(48),
    rh: `0.${opaque(40)}.`,
    uti: opaque(16),
  };
}

function opaque(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

/** OpenID Connect scopes some clients add to every request; they name no resource. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access']);

/**
 * The resource a v2 client-credentials `scope` names: `X/.default` → `X` (exactly one resource scope,
 * ending in `/.default` — AADSTS1002012 otherwise). Returns undefined when the scope is unusable.
 */
export function audienceFromScope(scope: string): string | undefined {
  const scopes = scope.split(' ').filter((part) => part !== '' && !OIDC_SCOPES.has(part));
  const [only] = scopes;
  if (scopes.length !== 1 || only === undefined) return undefined;
  const suffix = '/.default';
  if (!only.endsWith(suffix) || only.length === suffix.length) return undefined;
  return only.slice(0, -suffix.length);
}
