/**
 * Which IMDS API a request path names. Clients are sloppy in ways real IMDS tolerates
 * (azure-protocols.md §0.1): MSAL-node appends `/` before the query, a trailing `/` in
 * `AZURE_POD_IDENTITY_AUTHORITY_HOST` doubles the leading slash, and the segments are matched
 * case-insensitively. Pure.
 * @module
 */

export type ImdsRoute =
  /** `/metadata/identity/oauth2/token` */
  | { readonly kind: 'identity-token' }
  /** `/metadata/instance[/compute/…]`: `path` holds the segments after `instance`, as sent. */
  | { readonly kind: 'instance'; readonly path: readonly string[] }
  /** `/metadata/versions` */
  | { readonly kind: 'versions' }
  /** Other `/metadata/...` categories (attested, scheduledevents, loadbalancer…), not simulated. */
  | { readonly kind: 'other-metadata' }
  | { readonly kind: 'unknown' };

/** Path segments without empty ones (so `//a//b/` → `a`, `b`), percent-decoded. */
export function pathSegments(rawUrl: string): string[] {
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  return path
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    });
}

export function classifyImdsPath(rawUrl: string): ImdsRoute {
  const segments = pathSegments(rawUrl);
  const lower = segments.map((segment) => segment.toLowerCase());
  if (lower[0] !== 'metadata') return { kind: 'unknown' };
  const [, category, ...rest] = lower;
  if (category === 'identity' && rest.length === 2 && rest[0] === 'oauth2' && rest[1] === 'token') return { kind: 'identity-token' };
  if (category === 'instance') return { kind: 'instance', path: segments.slice(2) };
  if (category === 'versions' && rest.length === 0) return { kind: 'versions' };
  return { kind: 'other-metadata' };
}

/** The query string of a raw URL as URLSearchParams (names kept as sent). */
export function queryOf(rawUrl: string): URLSearchParams {
  const queryAt = rawUrl.indexOf('?');
  return new URLSearchParams(queryAt === -1 ? '' : rawUrl.slice(queryAt + 1));
}

/** First value of a query parameter whose name matches case-insensitively; '' counts as absent. */
export function queryParam(query: URLSearchParams, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of query) {
    if (key.toLowerCase() === wanted && value !== '') return value;
  }
  return undefined;
}
