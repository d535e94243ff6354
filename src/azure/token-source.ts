/**
 * The one capability NMI needs from Entra/IMDS: "give me a token for this identity and resource".
 * The real client (IMDS or a service principal), the cache ({@link CachingTokenSource} in
 * `token-cache.ts`) and test fakes all implement {@link TokenSource}, so wiring decides what wraps what.
 * @module
 */

/**
 * An access token as NMI hands it to a pod. The `accessToken` field is a secret: never log this object;
 * log {@link describeAccessToken} instead. It stays a plain data interface (no methods, no `toJSON`) so
 * that the HTTP layer maps it to the IMDS wire shape explicitly and a structural fake is still valid.
 */
export interface AccessToken {
  /** The bearer token itself. Secret. */
  readonly accessToken: string;
  /** Expiry, milliseconds since the epoch. */
  readonly expiresOnMs: number;
  /** Start of validity, milliseconds since the epoch; used to compute the lifetime when present. */
  readonly notBeforeMs?: number;
  /** The resource (audience) exactly as requested. */
  readonly resource: string;
  /** Client ID of the identity the token was issued to, when known. */
  readonly clientId?: string;
}

/**
 * What a token is for. `identity` is a stable, canonical id chosen by the caller, e.g.
 * `msi:<client id, lower case>` or `sp:<tenant>:<client id>`; `resource` is kept exactly as requested
 * (IMDS treats `https://x` and `https://x/` as different audiences).
 */
export interface TokenKey {
  readonly identity: string;
  readonly resource: string;
}

export interface TokenSource {
  /** Resolves to a token for `key`; rejects with the signal's reason when `signal` aborts first. */
  getToken(key: TokenKey, signal?: AbortSignal): Promise<AccessToken>;
}

/** A log-safe summary of a token: everything except the secret. */
export function describeAccessToken(token: AccessToken): {
  resource: string;
  clientId: string | undefined;
  expiresOn: string;
} {
  return { resource: token.resource, clientId: token.clientId, expiresOn: new Date(token.expiresOnMs).toISOString() };
}
