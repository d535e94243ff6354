/**
 * What @azure/identity and MSAL throw, read as a {@link TokenRequestError}: Entra refusing (an OAuth
 * error, AADSTS code, 4xx) is `rejected`; network trouble, throttling (also MSAL's own local replay of
 * an earlier 429/5xx) and 5xx are `unavailable`. Shared by every Entra ID token client
 * (entra-credential-pool.ts).
 * @module
 */
import { RetryAfterError } from '../lib/errors.ts';
import { aadstsCodeOf, sanitizeUpstreamDescription, TokenRequestError, type TokenRequestContext, type UpstreamAnswer } from './token-errors.ts';

/** Whether MSAL failed to read the authority's OpenID configuration (entra-credential-pool.ts asks it once more). */
export function isEndpointsResolutionError(error: unknown): boolean {
  return factsOf(error).endpointsUnresolved;
}

/** Status and OAuth details found on @azure/identity's and MSAL's errors (duck-typed: they are not exported uniformly). */
interface ErrorFacts {
  status?: number;
  error?: string;
  description?: string;
  errorCodes?: readonly unknown[];
  /** MSAL could not read the authority's OpenID configuration (unreachable, or it answered an error). */
  endpointsUnresolved: boolean;
  /** MSAL refused locally: an earlier 429/5xx for the same request is still within its Retry-After. */
  throttledByMsal: boolean;
}

/**
 * MSAL rewrites Entra's description as `Error(s): 7000215 - Timestamp: … - Description: AADSTS7000215: …
 * - Correlation ID: … - Trace ID: …`; keep the part Entra wrote.
 */
export function entraDescriptionOf(text: string): string {
  const match = /(?:^|\s)Description: ([\s\S]*?)(?: - Correlation ID: [^\s]+)?(?: - Trace ID: [^\s]+)?\s*$/.exec(text);
  return match?.[1] ?? text;
}

function factsOf(error: unknown): ErrorFacts {
  const facts: ErrorFacts = { endpointsUnresolved: false, throttledByMsal: false };
  for (let current: unknown = error, depth = 0; typeof current === 'object' && current !== null && depth < 8; depth++) {
    const record = current as Record<string, unknown>;
    const name = typeof record['name'] === 'string' ? record['name'] : '';
    // AuthenticationError: statusCode + errorResponse {error, errorDescription, errorCodes}.
    const response = record['errorResponse'];
    if (typeof response === 'object' && response !== null) {
      const body = response as Record<string, unknown>;
      if (facts.error === undefined && typeof body['error'] === 'string' && body['error'] !== '') facts.error = body['error'];
      if (facts.description === undefined && typeof body['errorDescription'] === 'string' && body['errorDescription'] !== '') facts.description = body['errorDescription'];
      if (facts.errorCodes === undefined && Array.isArray(body['errorCodes'])) facts.errorCodes = body['errorCodes'] as unknown[];
    }
    for (const field of ['statusCode', 'status']) {
      const value = record[field];
      if (facts.status === undefined && typeof value === 'number' && value >= 100) facts.status = value;
    }
    // MSAL ServerError: errorCode (OAuth error), errorMessage (description), errorNo (AADSTS number).
    // MSAL's throttling replay is a ServerError without a status whose errorCode is the AADSTS number(s).
    if (name === 'ServerError') {
      const errorCode = typeof record['errorCode'] === 'string' ? record['errorCode'] : '';
      const replay = typeof record['status'] !== 'number';
      if (replay) facts.throttledByMsal = true;
      if (facts.error === undefined && errorCode !== '' && !replay) facts.error = errorCode;
      if (facts.description === undefined && typeof record['errorMessage'] === 'string' && record['errorMessage'] !== '') facts.description = entraDescriptionOf(record['errorMessage']);
      const errorNo = record['errorNo'];
      if (facts.errorCodes === undefined && (typeof errorNo === 'number' || (typeof errorNo === 'string' && /^\d+$/.test(errorNo)))) facts.errorCodes = [Number(errorNo)];
    }
    if (typeof record['message'] === 'string' && record['message'].includes('endpoints_resolution_error')) facts.endpointsUnresolved = true;
    current = record['cause'];
  }
  return facts;
}

/** Back-off suggested after Entra throttled (MSAL keeps the Retry-After to itself). */
const ENTRA_THROTTLE_BACKOFF_MS = 10_000;

/** OAuth errors that mean "try again later", whatever the status. */
const TRANSIENT_OAUTH_ERRORS = new Set(['temporarily_unavailable', 'server_error']);

/**
 * Maps whatever @azure/identity threw to a {@link TokenRequestError}: an Entra answer with an OAuth
 * error and a 4xx status (or none) is `rejected`; throttling, 5xx, `temporarily_unavailable` and
 * network failures are `unavailable`. `secrets` are redacted from the description.
 */
export function toTokenRequestError(error: unknown, context: TokenRequestContext, secrets: readonly string[] = []): TokenRequestError {
  const facts = factsOf(error);
  const description = facts.description === undefined ? undefined : sanitizeUpstreamDescription(facts.description, secrets);
  const aadstsCode = aadstsCodeOf(facts.description, facts.errorCodes);
  const upstream: UpstreamAnswer = {
    ...(facts.status === undefined ? {} : { status: facts.status }),
    ...(facts.error === undefined ? {} : { error: sanitizeUpstreamDescription(facts.error, secrets) }),
    ...(aadstsCode === undefined ? {} : { aadstsCode }),
    ...(description === undefined ? {} : { description }),
  };
  const status = facts.status;
  const throttled = status === 429 || facts.throttledByMsal;
  const transient = throttled || (status !== undefined && status >= 500) || (facts.error !== undefined && TRANSIENT_OAUTH_ERRORS.has(facts.error));
  const answered = facts.error !== undefined || (status !== undefined && status >= 400 && status < 500);
  if (answered && !transient) return new TokenRequestError('rejected', context, { upstream, cause: error });
  const reason = facts.throttledByMsal
    ? 'refused locally by MSAL: an earlier throttled or failed request is within its Retry-After'
    : answered
      ? undefined
      : sanitizeUpstreamDescription(error instanceof Error ? error.message : String(error), secrets);
  // MSAL refuses identical requests for a while after a 429 or 5xx (azure-protocols.md §5.3) and does not
  // tell us how long; say so to the cache.
  const cause = throttled ? new RetryAfterError('Entra ID throttled the token request', ENTRA_THROTTLE_BACKOFF_MS, { code: 'PI_ENTRA_THROTTLED', cause: error }) : error;
  return new TokenRequestError('unavailable', context, { upstream, cause, ...(reason === undefined || reason === '' ? {} : { reason }) });
}
