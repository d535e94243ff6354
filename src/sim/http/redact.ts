/**
 * What the request log may keep of a URL. The log never sees headers or bodies; query values whose
 * name suggests a credential, and anything shaped like a JWT or a bearer token, are replaced.
 * @module
 */

export const REDACTED = '[redacted]';

// Entra accepts form fields in the query string too, so `client_secret` / `client_assertion` could
// arrive there; IMDS's `token_sha256_to_refresh` is a token hash. `client_id` and `resource` are kept.
const SENSITIVE_NAME = /secret|assertion|password|passwd|token|signature|^sig$|^code$|key|credential|authorization/i;
// Three base64url segments starting with a JSON header (`eyJ`): a JWS/JWT wherever it appears.
const JWT = /eyJ[\w-]*\.[\w-]+\.[\w-]*/g;
const BEARER = /bearer\s+\S+/gi;

/** Replaces JWT- or bearer-shaped substrings of free text. */
export function redactText(text: string): string {
  return text.replace(JWT, REDACTED).replace(BEARER, REDACTED);
}

/** Query parameters for the log; repeated names are joined with `,` (real IMDS rejects them anyway). */
export function redactQuery(search: string): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(search)) {
    const safe = SENSITIVE_NAME.test(name) ? REDACTED : redactText(value);
    const previous = query[name];
    query[name] = previous === undefined ? safe : `${previous},${safe}`;
  }
  return query;
}

/** Splits a raw request URL (`/path?query`) into a redacted path and query. */
export function splitUrl(url: string): { path: string; query: Record<string, string> } {
  const mark = url.indexOf('?');
  const rawPath = mark === -1 ? url : url.slice(0, mark);
  return { path: redactText(rawPath), query: mark === -1 ? {} : redactQuery(url.slice(mark + 1)) };
}
