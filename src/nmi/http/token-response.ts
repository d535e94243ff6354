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

/** A token answer's body and its JSON text. */
export interface ImdsTokenAnswer {
  readonly body: ImdsTokenBody | ImdsTokenBody[];
  readonly json: string;
}

/** What a cached token's last answer was built from; the same inputs give the same answer. */
interface LastAnswer {
  readonly resource: string;
  readonly clientId: string | undefined;
  readonly expiresInSeconds: number;
  readonly notBeforeSeconds: number;
  readonly answer: ImdsTokenAnswer;
}

/**
 * The last answer per token object: a cached token is the same object on every hit, and its answer
 * only changes when a second passes. Re-serialising it (about 1.5 KB) for every request made the
 * token path allocate several times what a bare server does; weak, so it goes with the token.
 */
const lastAnswers = new WeakMap<AccessToken, LastAnswer>();

/** {@link imdsTokenPayload} and its JSON, reused while nothing in it changes. */
export function imdsTokenAnswer(tokens: readonly AccessToken[], resource: string, nowMs: number, clientId?: string): ImdsTokenAnswer {
  // Indexing, not destructuring: an array iterator per request while this code is still interpreted.
  const only = tokens[0];
  if (only === undefined || tokens.length !== 1) {
    const body = imdsTokenPayload(tokens, resource, nowMs, clientId);
    return { body, json: JSON.stringify(body) };
  }
  const expiresInSeconds = Math.max(0, Math.floor((only.expiresOnMs - nowMs) / 1000));
  const notBeforeSeconds = Math.floor(Math.min(only.notBeforeMs ?? nowMs, nowMs) / 1000);
  const last = lastAnswers.get(only);
  if (last !== undefined && last.resource === resource && last.clientId === clientId && last.expiresInSeconds === expiresInSeconds && last.notBeforeSeconds === notBeforeSeconds) {
    return last.answer;
  }
  const body = imdsTokenBody(only, resource, nowMs, clientId);
  const answer: ImdsTokenAnswer = { body, json: JSON.stringify(body) };
  lastAnswers.set(only, { resource, clientId, expiresInSeconds, notBeforeSeconds, answer });
  return answer;
}

/** One token as an object, several as an array (upstream's multi-tenant shape). */
export function imdsTokenPayload(tokens: readonly AccessToken[], resource: string, nowMs: number, clientId?: string): ImdsTokenBody | ImdsTokenBody[] {
  const bodies = tokens.map((token) => imdsTokenBody(token, resource, nowMs, clientId));
  const [only] = bodies;
  return bodies.length === 1 && only !== undefined ? only : bodies;
}
