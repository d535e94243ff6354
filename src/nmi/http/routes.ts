/**
 * NMI request routing as a pure function of the raw request path (upstream §3.2, first match wins):
 *
 * | # | route                | matches                                                               |
 * |---|----------------------|-----------------------------------------------------------------------|
 * | 1 | `token`              | exactly `/metadata/identity/oauth2/token`, optional trailing `/`, one or two leading `/`, `metadata` in any case |
 * | 2 | `invalid-token-path` | anything else that, decoded, mentions metadata…identity…oauth2…token (400) |
 * | 3 | `host-token`         | prefix `/host/token` (upstream, unchanged)                            |
 * | 4 | `instance`           | prefix `/metadata/instance` after decoding/normalising, any case (403 only with `--block-instance-metadata`, else proxied) |
 * | 5 | `proxy`              | everything else                                                       |
 *
 * Decisions, all "fail closed" for the token path, because a token-path variant that NMI proxies but
 * IMDS accepts hands the pod the *node's* identities (CVE-2022-23551 / GHSA-p82q-rxpm-hjpc, where IMDS
 * treated `\` as `/` while NMI did not):
 *
 * - Classification works on the raw path as received (Node's `req.url`), before any decoding or
 *   normalisation; a query string or fragment is cut off first and never inspected.
 * - Route 1 is exact, not a prefix: upstream sent `/metadata/identity/oauth2/tokenX` and
 *   `.../token/anything` to the token handler; no client sends them and IMDS would 404 them, so they
 *   are 400 here (route 2).
 * - Leading `//` is accepted because real SDKs send it when `AZURE_POD_IDENTITY_AUTHORITY_HOST` ends in
 *   `/` (azure-protocols.md §0.1); upstream answered it with gorilla/mux's 301 redirect to the cleaned
 *   path. Three or more leading slashes are 400.
 * - Route 2 is broader than upstream's regex `/(?i:metadata)/identity(.*?)oauth2(.*?)token`: the path is
 *   percent-decoded repeatedly (so `%2F`, `%5C`, `%252F`, `%6D`… cannot hide a separator or letter),
 *   backslashes count as `/`, and the four words are matched case-insensitively in order, with anything
 *   between them (covers `..`/`.` segments and doubled slashes too).
 * - `/metadata/Identity/oauth2/token` (capital I): upstream proxied it to IMDS, which rejects it
 *   (upstream `TestRouterPathPrefix` expects the default handler). We answer 400 instead: relying on
 *   IMDS to reject a case variant is exactly the trust that CVE-2022-23551 broke, no SDK sends it, and
 *   the caller gets a JSON error it can parse instead of whatever IMDS says.
 * - Route 4 is matched on the normalised, lower-cased path so `--block-instance-metadata` cannot be
 *   bypassed with `/metadata/Instance`, `//metadata/instance`, `/x/../metadata/instance` or
 *   `/%6Detadata/instance` (upstream: `metadata` any case, `instance` exact). Without the block the
 *   server proxies `instance` like `proxy`, so the wider match costs nothing.
 * - Route 3 keeps upstream's plain prefix: the handler only serves `127.0.0.1` and never proxies.
 * @module
 */

/** Where a request goes; see the module table. */
export type Route =
  | { readonly kind: 'token' }
  | { readonly kind: 'invalid-token-path' }
  | { readonly kind: 'host-token' }
  | { readonly kind: 'instance' }
  | { readonly kind: 'proxy' };

/** `metadata` in any letter case (no `(?i:)` modifiers: our TS target predates them). */
const METADATA = '[Mm][Ee][Tt][Aa][Dd][Aa][Tt][Aa]';
const CANONICAL_TOKEN_PATH = new RegExp(`^/{1,2}${METADATA}/identity/oauth2/token/?$`, 'u');
const LOOKS_LIKE_TOKEN_PATH = /metadata.*identity.*oauth2.*token/isu;
const HOST_TOKEN_PREFIX = '/host/token';
const INSTANCE_PREFIX = '/metadata/instance';
const MAX_DECODE_ROUNDS = 8;

/** One frozen object per route: classifying allocates nothing on the token path. */
const ROUTES = {
  token: Object.freeze({ kind: 'token' }),
  invalidTokenPath: Object.freeze({ kind: 'invalid-token-path' }),
  hostToken: Object.freeze({ kind: 'host-token' }),
  instance: Object.freeze({ kind: 'instance' }),
  proxy: Object.freeze({ kind: 'proxy' }),
} as const satisfies Record<string, Route>;

/** Classifies a raw request path (query and fragment, if present, are ignored). Pure. */
export function classifyPath(rawPath: string): Route {
  const path = stripQuery(rawPath);
  if (CANONICAL_TOKEN_PATH.test(path)) return ROUTES.token;
  const decoded = decodeRepeatedly(path).replaceAll('\\', '/');
  if (LOOKS_LIKE_TOKEN_PATH.test(decoded)) return ROUTES.invalidTokenPath;
  if (path.startsWith(HOST_TOKEN_PREFIX)) return ROUTES.hostToken;
  if (normaliseSegments(decoded).toLowerCase().startsWith(INSTANCE_PREFIX)) return ROUTES.instance;
  return ROUTES.proxy;
}

function stripQuery(rawPath: string): string {
  const query = rawPath.indexOf('?');
  const fragment = rawPath.indexOf('#');
  const end = query === -1 ? fragment : fragment === -1 ? query : Math.min(query, fragment);
  return end === -1 ? rawPath : rawPath.slice(0, end);
}

/**
 * Decodes `%XX` escapes byte by byte (each byte to the code point of the same value, so malformed UTF-8
 * cannot throw) until nothing changes, to see through double encoding.
 */
function decodeRepeatedly(path: string): string {
  let current = path;
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    const next = current.replace(/%([0-9A-Fa-f]{2})/gu, (_match, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
    if (next === current) return current;
    current = next;
  }
  return current;
}

/** Collapses repeated `/` and resolves `.` and `..` segments (RFC 3986 §5.2.4 style). */
function normaliseSegments(path: string): string {
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  const trailing = path.endsWith('/') && out.length > 0 ? '/' : '';
  return `/${out.join('/')}${trailing}`;
}
