/**
 * Errors NMI answers on the IMDS token protocol, as plain data, plus the JSON body they are sent with.
 *
 * Every error body is JSON `{"error": ..., "error_description": ...}` like real IMDS: `@azure/identity`
 * cannot parse a plain-text body and reports a misleading "network_error" instead (azure-protocols.md
 * §0.3, §1.3). aad-pod-identity sent most of these as `http.Error` plain text; the descriptions are kept
 * byte-for-byte where upstream had one, so logs and existing alerting still match.
 * @module
 */

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

function invalidRequest(description: string): ImdsError {
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

const REDACTED = '##### REDACTED #####';

/**
 * A client ID for logs and error texts: first 4 + `##### REDACTED #####` + last 4 characters, as
 * upstream's `utils.RedactClientID` (regex `^(\S{4})(\S|\s)*(\S{4})$`). Deviation: where upstream's
 * regex does not match (shorter than 8 characters, or whitespace at either end) it returned the value
 * unchanged; we return only the marker, so nothing unredacted leaks. The empty string stays empty
 * (messages say "clientID in request: , " when none was requested).
 */
export function redactClientId(id: string): string {
  if (id === '') return '';
  const match = /^(\S{4})[\s\S]*(\S{4})$/u.exec(id);
  if (match === null) return REDACTED;
  return `${match[1] ?? ''}${REDACTED}${match[2] ?? ''}`;
}
