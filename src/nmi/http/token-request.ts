/**
 * Validation of IMDS token requests (upstream §3.3, §3.4; IMDS wire rules in azure-protocols.md §1.1),
 * as pure functions of the query and headers. Errors are {@link ImdsError}s, always sent as JSON.
 *
 * Order of checks on the token endpoint (first failure wins, each 400 `invalid_request`):
 * 1. `Metadata` header exactly `true` (only when required; upstream step 1, same text);
 * 2. no `X-Forwarded-For` header (real IMDS rejects it; new);
 * 3. no query parameter given twice (real IMDS rejects it; new — also removes any doubt about which
 *    `resource` or `client_id` the caller meant);
 * 4. `resource` present and non-empty (upstream step 3, same text, but JSON);
 * 5. at most one identity selector kind (new, see below).
 * Upstream's steps 2 (remote address) and 4+ (pod lookup, identity selection) are the server's.
 * @module
 */
import {
  conflictingIdentitySelectors,
  duplicateQueryParameter,
  forwardedRequest,
  metadataHeaderMissing,
  podHeadersMissing,
  resourceMissing,
  type ImdsError,
} from './imds-errors.ts';
import type { IdentitySelector } from '../identity/select-identity.ts';

/** Request headers as Node gives them (`IncomingMessage.headers`); names are matched case-insensitively. */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A valid token request. */
export type TokenRequest = {
  /** The `resource` parameter, byte-for-byte (SDKs cache on the echoed value). */
  readonly resource: string;
  /** `undefined` when no selector was given (the pod's default identity). */
  readonly selector: IdentitySelector | undefined;
  /** `api-version` as sent, if any. Upstream ignored it and so may the caller. */
  readonly apiVersion?: string;
};

export type TokenRequestOptions = {
  /** Upstream `--metadata-header-required` (default true). */
  readonly metadataHeaderRequired: boolean;
};

export type ParseResult<T> = { readonly ok: true; readonly request: T } | { readonly ok: false; readonly error: ImdsError };

/** A valid `/host/token` request: the pod is named by headers, not found by IP. */
export type HostTokenRequest = {
  readonly podNamespace: string;
  readonly podName: string;
  readonly resource: string;
};

/**
 * Selector parameters. `msi_res_id` and `mi_res_id` are two spellings of one selector: when both are
 * present `msi_res_id` wins, as upstream (`mi_res_id` was only its fallback). Empty values count as
 * absent, as upstream (`Query().Get` returns "" either way).
 */
const SELECTOR_PARAMS = [
  { param: 'client_id', kind: 'client_id' },
  { param: 'object_id', kind: 'object_id' },
  { param: 'msi_res_id', kind: 'resource_id' },
  { param: 'mi_res_id', kind: 'resource_id' },
] as const;

/**
 * Validates a token-endpoint request (`/metadata/identity/oauth2/token`). See the module comment for
 * the order of checks. `object_id` is returned as a selector; upstream ignored it (treated it as "no
 * identity requested"), so whether to serve it is the caller's decision.
 */
export function parseTokenRequest(
  query: URLSearchParams,
  headers: RequestHeaders,
  options: TokenRequestOptions,
): ParseResult<TokenRequest> {
  return tokenHeadersRefusal(headers, options) ?? parseTokenQuery(query);
}

/** The refusal a token request's headers earn (checked before its query), or undefined. */
export function tokenHeadersRefusal(headers: RequestHeaders, options: TokenRequestOptions): ParseResult<never> | undefined {
  if (options.metadataHeaderRequired && !hasMetadataHeader(headers)) return fail(metadataHeaderMissing());
  if (headerPresent(headers, 'x-forwarded-for')) return fail(forwardedRequest());
  return undefined;
}

/** A token request's query: what {@link parseTokenRequest} reads after the headers. Pure. */
export function parseTokenQuery(query: URLSearchParams): ParseResult<TokenRequest> {
  const duplicate = firstDuplicateParam(query);
  if (duplicate !== undefined) return fail(duplicateQueryParameter(duplicate));

  const resource = query.get('resource') ?? '';
  if (resource === '') return fail(resourceMissing());

  // The first selector given wins; another kind given too is a conflict (one pass, no arrays: every token request runs this).
  let selector: IdentitySelector | undefined;
  let conflicting = false;
  for (const { param, kind } of SELECTOR_PARAMS) {
    const value = query.get(param) ?? '';
    if (value === '') continue;
    if (selector === undefined) selector = { kind, value };
    else if (selector.kind !== kind) conflicting = true;
  }
  if (conflicting) return fail(conflictingIdentitySelectors(SELECTOR_PARAMS.filter(({ param }) => (query.get(param) ?? '') !== '').map(({ param }) => param)));

  const apiVersion = query.get('api-version');
  const request: TokenRequest =
    apiVersion === null ? { resource, selector } : { resource, selector, apiVersion };
  return { ok: true, request };
}

/**
 * Validates a `/host/token` request: `podns` and `podname` headers (non-empty, one value each) are
 * required, then `resource`. No `Metadata` header check, as upstream (node agents never sent one).
 * Duplicate query parameters are rejected as on the token endpoint. The remote-address check
 * (`127.0.0.1` only) is the server's.
 */
export function parseHostTokenRequest(headers: RequestHeaders, query: URLSearchParams): ParseResult<HostTokenRequest> {
  const podNamespace = singleHeader(headers, 'podns');
  const podName = singleHeader(headers, 'podname');
  if (podNamespace === undefined || podName === undefined) return fail(podHeadersMissing());

  const duplicate = firstDuplicateParam(query);
  if (duplicate !== undefined) return fail(duplicateQueryParameter(duplicate));

  const resource = query.get('resource') ?? '';
  if (resource === '') return fail(resourceMissing());
  return { ok: true, request: { podNamespace, podName, resource } };
}

/** IMDS's SSRF guard: exactly one `Metadata` header (any name case), value exactly `true`. */
export function hasMetadataHeader(headers: RequestHeaders): boolean {
  let only: string | undefined;
  let count = 0;
  for (const key in headers) {
    const value = isHeader(key, 'metadata') ? headers[key] : undefined;
    if (value === undefined) continue;
    if (typeof value === 'string') {
      only = value;
      count++;
    } else {
      only = value[0];
      count += value.length;
    }
    if (count > 1) return false;
  }
  return count === 1 && only === 'true';
}

function fail(error: ImdsError): { ok: false; error: ImdsError } {
  return { ok: false, error };
}

/**
 * Whether `key` is header `name` (lower case) in any letter case. Node gives lower-cased keys, so the
 * length check and the exact match answer almost always without lower-casing (which allocates).
 */
function isHeader(key: string, name: string): boolean {
  return key.length === name.length && (key === name || key.toLowerCase() === name);
}

/** All values of header `name` (case-insensitive), across differently-cased keys and array values. */
function headerValues(headers: RequestHeaders, name: string): string[] {
  const values: string[] = [];
  for (const key in headers) {
    const value = isHeader(key, name) ? headers[key] : undefined;
    if (value === undefined) continue;
    if (typeof value === 'string') values.push(value);
    else values.push(...value);
  }
  return values;
}

function headerPresent(headers: RequestHeaders, name: string): boolean {
  for (const key in headers) {
    if (isHeader(key, name) && headers[key] !== undefined) return true;
  }
  return false;
}

/** The header's only value if there is exactly one and it is non-empty. */
function singleHeader(headers: RequestHeaders, name: string): string | undefined {
  const values = headerValues(headers, name);
  const only = values[0];
  return values.length === 1 && only !== undefined && only !== '' ? only : undefined;
}

function firstDuplicateParam(query: URLSearchParams): string | undefined {
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (seen.has(key)) return key;
    seen.add(key);
  }
  return undefined;
}
