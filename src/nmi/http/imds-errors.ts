/**
 * Every error NMI answers, as plain data ({@link ImdsError}), and the one JSON body they are all sent
 * with ({@link imdsErrorBody}): the handler's refusals, token failures, and the HTTP shell's own
 * (framework, parser and proxy errors) alike.
 *
 * Every error body is JSON `{"error": ..., "error_description": ...}` like real IMDS: `@azure/identity`
 * cannot parse a plain-text body and reports a misleading "network_error" instead (azure-protocols.md
 * §0.3, §1.3). aad-pod-identity sent most of these as `http.Error` plain text; the descriptions are kept
 * byte-for-byte where upstream had one, so logs and existing alerting still match.
 * @module
 */
import type { TokenRequestError } from '../../azure/token-errors.ts';

/** One error answer: HTTP status, IMDS `error` code, human description, optional `Retry-After`. */
export type ImdsError = {
  readonly status: number;
  readonly error: string;
  readonly description: string;
  /** When set, the response carries `Retry-After: <seconds>`. */
  readonly retryAfterSeconds?: number;
};

/** The JSON body of an {@link ImdsError}, in IMDS's field names. */
export type ImdsErrorBody = { readonly error: string; readonly error_description: string };

/** The response body for `e` (serialise with `JSON.stringify`). */
export function imdsErrorBody(e: ImdsError): ImdsErrorBody {
  return { error: e.error, error_description: e.description };
}

/** Whole seconds for `Retry-After` (at least 1). */
function retryAfterSecondsOf(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** 400 `invalid_request` with `description`. */
export function invalidRequest(description: string): ImdsError {
  return { status: 400, error: 'invalid_request', description };
}

/** 400: `Metadata: true` missing or different (upstream and IMDS text, exact). */
export function metadataHeaderMissing(): ImdsError {
  return invalidRequest('Required metadata header not specified');
}

/** 400: `resource` query parameter missing or empty (upstream text, exact; upstream sent it as text). */
export function resourceMissing(): ImdsError {
  return invalidRequest('parameter resource cannot be empty');
}

/**
 * 400: more than one identity selector kind (e.g. `client_id` and `msi_res_id`). Upstream accepted both
 * and matched either; real IMDS rejects the combination, and guessing which one the caller meant could
 * hand out the wrong identity.
 */
export function conflictingIdentitySelectors(names: readonly string[]): ImdsError {
  return invalidRequest(
    `only one of client_id, object_id, msi_res_id or mi_res_id may be specified, got: ${names.join(', ')}`,
  );
}

/** 400: a query parameter appears more than once (real IMDS rejects duplicates). */
export function duplicateQueryParameter(name: string): ImdsError {
  return invalidRequest(`query parameter '${name}' must not be specified more than once`);
}

/** 400: the request carries `X-Forwarded-For` (real IMDS rejects proxied requests: SSRF protection). */
export function forwardedRequest(): ImdsError {
  return invalidRequest('requests with an X-Forwarded-For header are not accepted');
}

/**
 * 400: a path that looks like the token path but is not its canonical form (backslashes, encoded
 * separators, dot segments; CVE-2022-23551). Upstream text `Invalid request`.
 */
export function invalidTokenPath(): ImdsError {
  return invalidRequest('Invalid request');
}

/** 400 on `/host/token`: `podns` / `podname` headers missing (upstream text, exact). */
export function podHeadersMissing(): ImdsError {
  return invalidRequest(`missing 'podname' and 'podns' from request header`);
}

/** 403 for `/metadata/instance*` with `--block-instance-metadata` (upstream text, exact). */
export function instanceMetadataBlocked(): ImdsError {
  return { status: 403, error: 'forbidden', description: 'Request blocked by AAD Pod Identity NMI' };
}

/**
 * The pod's identity is not (yet) available: 404 as upstream, or 503 with `Retry-After` when
 * `retryAfterSeconds` is given (upstream's `--set-retry-after-header`, 20 s).
 */
export function identityNotFound(description: string, retryAfterSeconds?: number): ImdsError {
  return retryAfterSeconds === undefined
    ? { status: 404, error: 'identity_not_found', description }
    : { status: 503, error: 'identity_not_found', description, retryAfterSeconds };
}

/** 500: NMI itself failed (pod lookup, cache errors). */
export function internalError(description: string): ImdsError {
  return { status: 500, error: 'internal_error', description };
}

/** 403 `forbidden` (or another `error` code). */
export function forbidden(description: string, error = 'forbidden'): ImdsError {
  return { status: 403, error, description };
}

/** 403 on `/host/token` from anything but 127.0.0.1 on the host listener. */
export function hostTokenForbidden(): ImdsError {
  return forbidden('request remote address is not from a host: /host/token is served only on 127.0.0.1');
}

/**
 * The identity decision refused the pod (identity/select-identity.ts): its status, code and text, except that a
 * 404 becomes {@link identityNotFound}'s (503 with `Retry-After` under `--set-retry-after-header`).
 */
export function identityRefused(refusal: { readonly status: number; readonly error: string; readonly description: string }, retryAfterSeconds: number | undefined): ImdsError {
  return refusal.status === 404 ? identityNotFound(refusal.description, retryAfterSeconds) : { status: refusal.status, error: refusal.error, description: refusal.description };
}

/** 429 with `Retry-After`: the pod is over its rate, or NMI's own IMDS limiter is full. */
export function tooManyRequests(description: string, retryAfterMs: number): ImdsError {
  return { status: 429, error: 'too_many_requests', description, retryAfterSeconds: retryAfterSecondsOf(retryAfterMs) };
}

/** The HTTP status NMI answers a pod with for a failed token request (upstream's "health check" distinction). */
export function nmiStatusFor(error: TokenRequestError): 403 | 503 {
  return error.kind === 'rejected' ? 403 : 503;
}

/**
 * A token request IMDS or Entra ID failed: 403 when the endpoint refused, 503 (with `Retry-After` when
 * it throttled) when it was unavailable; the endpoint's own `error` code is passed on.
 */
export function tokenRequestFailed(error: TokenRequestError): ImdsError {
  const status = nmiStatusFor(error);
  const retryAfterMs = error.retryAfterMs;
  return {
    status,
    error: error.upstreamError ?? (status === 403 ? 'forbidden' : 'service_unavailable'),
    description: error.message,
    ...(status === 503 && retryAfterMs !== undefined ? { retryAfterSeconds: retryAfterSecondsOf(retryAfterMs) } : {}),
  };
}

/** 503: getting the token failed in a way that is neither the endpoint's answer nor a limit. */
export function serviceUnavailable(description: string): ImdsError {
  return { status: 503, error: 'service_unavailable', description };
}

/** 400 for an HTTP/1.1 request without `Host`. */
export function hostHeaderRequired(): ImdsError {
  return invalidRequest('Host header required');
}

/** 400: the framework could not parse the request (a malformed URL, say). */
export function badRequest(message: string): ImdsError {
  return invalidRequest(`bad request: ${message}`);
}

/** What Node's HTTP server rejects before NMI sees a request, by error code (parser errors, timeouts). */
export function clientError(code: string | undefined, requestTimeoutMs: number): ImdsError {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, error: 'request_timeout', description: `request not received within ${String(requestTimeoutMs / 1000)} s` };
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, error: 'invalid_request', description: 'request headers too large' };
  return invalidRequest('malformed HTTP request');
}

/** 405 for CONNECT: NMI is no proxy. */
export function connectNotSupported(): ImdsError {
  return { status: 405, error: 'invalid_request', description: 'CONNECT is not supported' };
}

/** A proxied request that failed: 502 `bad_gateway` when IMDS was unreachable, else (400) the request could not be forwarded. */
export function proxyFailed(status: number, description: string): ImdsError {
  return { status, error: status === 502 ? 'bad_gateway' : 'invalid_request', description };
}

/** An error the framework raised while handling a request: its text below 500, none at or above. */
export function frameworkFailure(status: number, message: string): ImdsError {
  return { status, error: status >= 500 ? 'internal_error' : 'invalid_request', description: status >= 500 ? 'internal error in NMI' : message };
}
