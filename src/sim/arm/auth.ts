/**
 * Bearer-token authentication of ARM calls: the token must be one the simulated Entra ID signed
 * (signature, time, audience) for the simulated tenant. Failures are ARM's 401 bodies with a
 * `WWW-Authenticate` challenge ({@link ./errors.ts}).
 *
 * Audiences: the public cloud's ARM audiences, and — as a sovereign or private cloud's ARM (Azure Stack)
 * does — this ARM's own endpoints, with or without the trailing slash. go-autorest (upstream MIC) asks
 * Entra ID for a token whose resource is its `resourceManagerEndpoint` itself.
 * @module
 */
import { decodeJwt } from 'jose';
import type { TokenIssuer } from '../tokens/issuer.ts';
import {
  ARM_AUDIENCES,
  type ArmError,
  expiredAuthenticationToken,
  invalidAudience,
  invalidAuthenticationToken,
  invalidAuthorizationHeader,
  missingAuthorizationHeader,
  wrongTenant,
} from './errors.ts';

/** The authenticated principal of a request. */
export interface Caller {
  /** `oid`: what role assignments name. */
  readonly objectId: string;
  /** `appid`: what ARM's 403 messages call "the client". */
  readonly appId: string;
  readonly tenantId: string;
}

/** jose's error codes we tell apart (https://github.com/panva/jose/blob/main/src/util/errors.ts). */
function joseCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code: unknown = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function joseClaim(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const claim: unknown = (error as { claim?: unknown }).claim;
  return typeof claim === 'string' ? claim : undefined;
}

/** Claims read without verification, only to word an error message. */
function unverifiedClaims(token: string): { aud?: string; exp?: number } {
  try {
    const claims = decodeJwt(token);
    const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
    return { ...(aud !== undefined ? { aud } : {}), ...(claims.exp !== undefined ? { exp: claims.exp } : {}) };
  } catch {
    return {};
  }
}

/** Maps a failed verification to ARM's answer. */
function verificationError(error: unknown, token: string, nowMs: number, audiences: readonly string[]): ArmError {
  const claims = unverifiedClaims(token);
  const code = joseCode(error);
  if (code === 'ERR_JWT_EXPIRED' && claims.exp !== undefined) return expiredAuthenticationToken(claims.exp * 1000, nowMs);
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && joseClaim(error) === 'aud') return invalidAudience(claims.aud ?? '', audiences);
  return invalidAuthenticationToken();
}

/**
 * The audiences an ARM served at `ownEndpoints` (base URLs such as `https://127.0.0.1:41569`) accepts:
 * the public ones, then each endpoint with and without a trailing slash (duplicates dropped).
 */
export function acceptedAudiences(ownEndpoints: readonly string[]): string[] {
  const own = ownEndpoints
    .map((url) => url.trim().replace(/\/+$/, ''))
    .filter((url) => url !== '')
    .flatMap((url) => [`${url}/`, url]);
  return [...new Set([...ARM_AUDIENCES, ...own])];
}

/**
 * Authenticates `authorization` (the header value, if any). Throws the {@link ArmError} to answer
 * with; `nowMs` is only used in the expiry message. `audiences`: see {@link acceptedAudiences}.
 */
export async function authenticate(
  authorization: string | undefined,
  issuer: TokenIssuer,
  tenantId: string,
  nowMs: number,
  audiences: readonly string[] = ARM_AUDIENCES,
): Promise<Caller> {
  if (authorization === undefined || authorization.trim() === '') throw missingAuthorizationHeader();
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  const token = match?.[1];
  if (token === undefined) throw invalidAuthorizationHeader();
  let claims;
  try {
    claims = await issuer.verify(token, audiences);
  } catch (error) {
    throw verificationError(error, token, nowMs, audiences);
  }
  if (typeof claims.oid !== 'string' || typeof claims.tid !== 'string') throw invalidAuthenticationToken();
  if (claims.tid.toLowerCase() !== tenantId.toLowerCase()) throw wrongTenant(typeof claims.iss === 'string' ? claims.iss : '', tenantId);
  return { objectId: claims.oid, appId: typeof claims.appid === 'string' ? claims.appid : claims.oid, tenantId: claims.tid };
}
