/**
 * The IMDS wire shape of a served token (azure-protocols.md §1.2): every field a real IMDS returns,
 * numbers as strings, `resource` echoed exactly as requested (SDKs cache on it). Several tokens (a
 * service principal with auxiliary tenants) are a JSON array, primary first, as upstream.
 * @module
 */
import type { AccessToken } from '../../azure/access-token.ts';

export interface ImdsTokenBody {
  readonly access_token: string;
  readonly client_id?: string;
  readonly expires_in: string;
  readonly expires_on: string;
  readonly ext_expires_in: string;
  readonly not_before: string;
  readonly resource: string;
  readonly token_type: 'Bearer';
}

const seconds = (ms: number): string => String(Math.floor(ms / 1000));

export function imdsTokenBody(token: AccessToken, resource: string, nowMs: number, clientId?: string): ImdsTokenBody {
  const expiresIn = String(Math.max(0, Math.floor((token.expiresOnMs - nowMs) / 1000)));
  const client = token.clientId ?? clientId;
  return {
    access_token: token.accessToken,
    ...(client === undefined || client === '' ? {} : { client_id: client }),
    expires_in: expiresIn,
    expires_on: seconds(token.expiresOnMs),
    ext_expires_in: expiresIn,
    not_before: seconds(Math.min(token.notBeforeMs ?? nowMs, nowMs)),
    resource,
    token_type: 'Bearer',
  };
}

/** One token as an object, several as an array (upstream's multi-tenant shape). */
export function imdsTokenPayload(tokens: readonly AccessToken[], resource: string, nowMs: number, clientId?: string): ImdsTokenBody | ImdsTokenBody[] {
  const bodies = tokens.map((token) => imdsTokenBody(token, resource, nowMs, clientId));
  const [only] = bodies;
  return bodies.length === 1 && only !== undefined ? only : bodies;
}
