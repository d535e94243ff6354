/**
 * The token the Azure clients hand back (IMDS for managed identities, Entra ID for service
 * principals). NMI's token path (src/nmi/tokens) passes it through its sources and cache unchanged.
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

/** A log-safe summary of a token: everything except the secret. */
export function describeAccessToken(token: AccessToken): {
  resource: string;
  clientId: string | undefined;
  expiresOn: string;
} {
  return { resource: token.resource, clientId: token.clientId, expiresOn: new Date(token.expiresOnMs).toISOString() };
}
