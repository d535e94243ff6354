/**
 * One error type for a failed token request, whichever endpoint (IMDS or Entra ID) was asked. The
 * `kind` is the distinction upstream NMI makes (aad-pod-identity-behaviour.md §3.3): `rejected` — the
 * endpoint answered and refused (NMI answers 403) — versus `unavailable` — it could not be reached,
 * timed out, was throttled or failed transiently (NMI answers 503; that mapping is NMI's own, in
 * src/nmi/http/imds-errors.ts). What the endpoint said (status, OAuth error, AADSTS code, description)
 * is kept so NMI can pass it through to the pod; the description is sanitised first. A throttled answer carries a {@link RetryAfterError} as its cause, so
 * `findInChain(error, RetryAfterError)` tells caches how long to back off.
 * @module
 */
import { findInChain, PodIdentityError, RetryAfterError } from '../lib/errors.ts';

export type TokenRequestErrorKind = 'rejected' | 'unavailable';

/** Which identity and audience the request was for. Never a secret or a token. */
export interface TokenRequestContext {
  /** `imds` for managed identities, `entra` for service principals. */
  readonly endpoint: 'imds' | 'entra';
  readonly resource: string;
  /** Client ID of the identity, when known (IMDS requests by object or resource ID may not know it). */
  readonly clientId?: string | undefined;
  /** How the identity was named when not by client ID, e.g. `msi_res_id /subscriptions/…`, `system-assigned`. */
  readonly selector?: string | undefined;
  /** Entra tenant (service principals). */
  readonly tenantId?: string | undefined;
}

/** What the endpoint answered, when it answered. */
export interface UpstreamAnswer {
  /** HTTP status; undefined when no response was received. */
  readonly status?: number | undefined;
  /** OAuth / IMDS `error`, e.g. `invalid_request`, `invalid_client`. */
  readonly error?: string | undefined;
  /** `AADSTSnnnnn` when Entra named one (in `error_codes` or the description). */
  readonly aadstsCode?: string | undefined;
  /** `error_description`, sanitised with {@link sanitizeUpstreamDescription}. */
  readonly description?: string | undefined;
}

export interface TokenRequestErrorOptions extends ErrorOptions {
  readonly upstream?: UpstreamAnswer;
  /** What went wrong on our side when there is no upstream answer (timeout, connection refused, …). */
  readonly reason?: string;
}

export class TokenRequestError extends PodIdentityError {
  readonly kind: TokenRequestErrorKind;
  readonly context: TokenRequestContext;
  readonly upstreamStatus: number | undefined;
  readonly upstreamError: string | undefined;
  readonly aadstsCode: string | undefined;
  readonly upstreamDescription: string | undefined;
  /** What went wrong on our side, when the message says so (see {@link TokenRequestErrorOptions.reason}). */
  readonly reason: string | undefined;

  constructor(kind: TokenRequestErrorKind, context: TokenRequestContext, options: TokenRequestErrorOptions = {}) {
    const upstream = options.upstream ?? {};
    super(kind === 'rejected' ? 'PI_TOKEN_REJECTED' : 'PI_TOKEN_UNAVAILABLE', describeTokenFailure(kind, context, upstream, options.reason), options);
    this.kind = kind;
    this.context = context;
    this.upstreamStatus = upstream.status;
    this.upstreamError = upstream.error;
    this.aadstsCode = upstream.aadstsCode;
    this.upstreamDescription = upstream.description;
    this.reason = options.reason;
  }

  /** How long to back off, when the endpoint throttled (a {@link RetryAfterError} in the cause chain). */
  get retryAfterMs(): number | undefined {
    return findInChain(this, RetryAfterError)?.retryAfterMs;
  }
}

/** `IMDS rejected the token request for https://x (client ID …): 400 invalid_request: Identity not found` */
export function describeTokenFailure(kind: TokenRequestErrorKind, context: TokenRequestContext, upstream: UpstreamAnswer, reason?: string): string {
  const who = [
    context.clientId === undefined ? undefined : `client ID ${context.clientId}`,
    context.selector,
    context.tenantId === undefined ? undefined : `tenant ${context.tenantId}`,
  ].filter((part) => part !== undefined);
  const endpoint = context.endpoint === 'imds' ? 'IMDS' : 'Entra ID';
  const subject = `token request for ${context.resource}${who.length === 0 ? '' : ` (${who.join(', ')})`}`;
  const head = kind === 'rejected' ? `${endpoint} rejected the ${subject}` : `${endpoint} unavailable for the ${subject}`;
  const answer = [upstream.status, upstream.error].filter((part) => part !== undefined).join(' ');
  const details = [answer === '' ? undefined : answer, upstream.description, reason].filter((part) => part !== undefined && part !== '');
  return details.length === 0 ? head : `${head}: ${details.join(': ')}`;
}

const MAX_DESCRIPTION_LENGTH = 600;
/** Three base64url segments starting with `eyJ` (a JWT: an access token or a client assertion). */
const JWT = /eyJ[\w-]*\.[\w-]+\.[\w-]*/g;
/** `client_secret=…`, `password=…`, `client_assertion=…` in an echoed form body or URL. */
const SECRET_PARAMETER = /\b(client_secret|client_assertion|password|access_token|refresh_token)=([^&\s]+)/gi;

/**
 * Makes an upstream error description safe to log and to pass to a pod: known secrets and anything
 * token-like are replaced by `[redacted]`, line breaks (Entra appends Trace/Correlation ID lines) become
 * `; `, control characters go, and the result is bounded.
 */
export function sanitizeUpstreamDescription(text: string, secrets: readonly string[] = []): string {
  let result = text;
  // Longest first, so a secret containing another is redacted whole.
  for (const secret of [...secrets].filter((value) => value.length >= 4).sort((a, b) => b.length - a.length)) {
    result = result.split(secret).join('[redacted]');
  }
  result = result
    .replace(JWT, '[redacted]')
    .replace(SECRET_PARAMETER, '$1=[redacted]')
    .replace(/\s*[\r\n]+\s*/g, '; ')
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim()
    .replace(/;$/, '');
  return result.length > MAX_DESCRIPTION_LENGTH ? `${result.slice(0, MAX_DESCRIPTION_LENGTH - 1)}…` : result;
}

/** `AADSTS7000215` from Entra's `error_codes` or the start of its description. */
export function aadstsCodeOf(description: string | undefined, errorCodes?: readonly unknown[]): string | undefined {
  const first = errorCodes?.[0];
  if (typeof first === 'number' && Number.isInteger(first)) return `AADSTS${first}`;
  const match = description === undefined ? null : /\bAADSTS(\d+)\b/.exec(description);
  return match === null ? undefined : `AADSTS${match[1] ?? ''}`;
}

/**
 * Reads an OAuth-style error body (`{error, error_description, error_codes}`, as IMDS and Entra send).
 * Anything else (plain text, HTML, a JSON body of another shape) gives `{}`: such text is not passed on.
 */
export function parseOAuthErrorBody(text: string, secrets: readonly string[] = []): Pick<UpstreamAnswer, 'error' | 'aadstsCode' | 'description'> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  const body = parsed as Record<string, unknown>;
  const error = typeof body['error'] === 'string' && body['error'] !== '' ? sanitizeUpstreamDescription(body['error'], secrets) : undefined;
  const rawDescription = typeof body['error_description'] === 'string' && body['error_description'] !== '' ? body['error_description'] : undefined;
  const errorCodes = Array.isArray(body['error_codes']) ? (body['error_codes'] as unknown[]) : undefined;
  const aadstsCode = aadstsCodeOf(rawDescription, errorCodes);
  return {
    ...(error === undefined ? {} : { error }),
    ...(aadstsCode === undefined ? {} : { aadstsCode }),
    ...(rawDescription === undefined ? {} : { description: sanitizeUpstreamDescription(rawDescription, secrets) }),
  };
}
