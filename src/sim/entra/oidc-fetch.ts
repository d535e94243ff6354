/**
 * Fetches an OIDC issuer's signing keys the way Entra ID does for a federated assertion:
 * `{issuer}/.well-known/openid-configuration` over HTTPS, then its `jwks_uri`. TLS trusts the public
 * roots plus the CAs the simulator was given (a test cluster's API server CA). No redirects are
 * followed; every failure is an {@link OidcFetchError} (Entra answers AADSTS90061).
 * @module
 */
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { JSONWebKeySet } from 'jose';
import { requestText } from '../../lib/http-request.ts';

/** Why the issuer's metadata could not be used (logged; the client sees only AADSTS90061). */
export class OidcFetchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OidcFetchError';
  }
}

export interface OidcFetchOptions {
  /** Extra PEM CAs, besides the public roots. */
  readonly caPems: readonly string[];
  /** Per request; default 5 s. */
  readonly timeoutMs?: number;
}

/** Bodies beyond this are not metadata. */
const MAX_BODY_BYTES = 1024 * 1024;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `{issuer}/.well-known/openid-configuration`, without doubling the issuer's trailing slash. */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/** Whether a discovery document's `issuer` names `issuer` (a trailing slash aside). */
export function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

async function getJson(url: string, options: OidcFetchOptions): Promise<unknown> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new OidcFetchError(`${url} is not a URL`, { cause: error });
  }
  if (parsed.protocol !== 'https:') throw new OidcFetchError(`${url} is not an https URL`);
  const timeoutMs = options.timeoutMs ?? 5_000;
  const request = httpsRequest(parsed, {
    method: 'GET',
    // kube-apiserver answers 406 to a JWKS request that accepts only application/json.
    headers: { accept: 'application/json, application/jwk-set+json' },
    ca: [...rootCertificates, ...options.caPems],
    signal: AbortSignal.timeout(timeoutMs),
  });
  let response;
  try {
    response = await requestText(request);
  } catch (error) {
    throw new OidcFetchError(`GET ${url}: ${(error as Error).message}`, { cause: error });
  }
  if (response.status !== 200) throw new OidcFetchError(`GET ${url}: HTTP ${response.status}`);
  if (Buffer.byteLength(response.body) > MAX_BODY_BYTES) throw new OidcFetchError(`GET ${url}: body larger than ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(response.body) as unknown;
  } catch (error) {
    throw new OidcFetchError(`GET ${url}: not JSON`, { cause: error });
  }
}

/** The issuer's published keys, found through its discovery document. */
export async function fetchIssuerKeys(issuer: string, options: OidcFetchOptions): Promise<JSONWebKeySet> {
  const configuration = await getJson(discoveryUrl(issuer), options);
  if (!isRecord(configuration)) throw new OidcFetchError(`${discoveryUrl(issuer)}: not a JSON object`);
  const { issuer: published, jwks_uri: jwksUri } = configuration;
  if (typeof published !== 'string' || !sameIssuer(published, issuer)) {
    throw new OidcFetchError(`${discoveryUrl(issuer)}: issuer ${JSON.stringify(published)} is not ${JSON.stringify(issuer)}`);
  }
  if (typeof jwksUri !== 'string') throw new OidcFetchError(`${discoveryUrl(issuer)}: no jwks_uri`);
  const jwks = await getJson(jwksUri, options);
  if (!isRecord(jwks) || !Array.isArray(jwks['keys']) || !jwks['keys'].every(isRecord)) throw new OidcFetchError(`${jwksUri}: not a JWK set`);
  return jwks as unknown as JSONWebKeySet;
}
