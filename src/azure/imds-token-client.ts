/**
 * Managed-identity tokens from IMDS (type-0 identities), hand-written rather than
 * @azure/identity's ManagedIdentityCredential: that one fixes its endpoint once per process, keeps a
 * process-wide token cache NMI cannot control and retries for minutes; NMI needs per-identity
 * requests, its own cache, a bounded wait and the abort signal of the pod's request.
 *
 * Request (azure-protocols.md §1.1): `GET <endpoint>/metadata/identity/oauth2/token?api-version=2018-02-01
 * &resource=…[&client_id=…|&object_id=…|&msi_res_id=…]` with `Metadata: true`; no selector = the VM's
 * default identity (system-assigned, or its only user-assigned one). Retries 404, 408, 410, 429, 5xx and
 * transport failures a few times with short exponential backoff, honouring `Retry-After` up to a cap;
 * everything else is IMDS refusing ({@link TokenRequestError} `rejected`).
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Agent as HttpAgent } from 'node:http';
import { nodeHttp } from '../lib/node-http.ts';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { requestText } from '../lib/http-request.ts';
import { backoffDelay, parseRetryAfter, type BackoffPolicy } from '../lib/backoff.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { describeError, RetryAfterError } from '../lib/errors.ts';
import { parseOAuthErrorBody, TokenRequestError, type TokenRequestContext, type UpstreamAnswer } from './token-errors.ts';
import type { AccessToken } from './access-token.ts';

export const IMDS_ENDPOINT = 'http://169.254.169.254:80';
export const IMDS_TOKEN_PATH = '/metadata/identity/oauth2/token';
export const IMDS_TOKEN_API_VERSION = '2018-02-01';

/** Names one managed identity on the VM; `resource_id` is sent as `msi_res_id`. */
export interface ImdsIdentitySelector {
  readonly kind: 'client_id' | 'object_id' | 'resource_id';
  readonly value: string;
}

export interface ImdsTokenRequest {
  /** v1 resource (audience), sent and returned exactly as given. */
  readonly resource: string;
  /** None: the VM's default identity. */
  readonly selector?: ImdsIdentitySelector | undefined;
}

export interface ImdsRetryOptions {
  /** Attempts in total, including the first; default 3. */
  readonly maxAttempts: number;
  /** Delay after the first failed attempt; doubles per attempt; default 200 ms. */
  readonly baseDelayMs: number;
  /** Upper bound of a backoff delay; default 2 s. */
  readonly maxDelayMs: number;
  /** A longer `Retry-After` ends the retries at once (the cache backs off instead); default 5 s. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_IMDS_RETRY: ImdsRetryOptions = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2_000, maxRetryAfterMs: 5_000 };

/** Back-off suggested when IMDS throttles without a `Retry-After`. */
const DEFAULT_THROTTLE_BACKOFF_MS = 1_000;

/** Reported before each retry (for logs and metrics; never carries a token). */
export interface ImdsRetryEvent {
  readonly attempt: number;
  readonly delayMs: number;
  readonly status?: number | undefined;
  readonly reason: string;
}

export interface ImdsTokenClientOptions {
  /** Scheme, host and port of IMDS; default {@link IMDS_ENDPOINT}. */
  readonly endpoint?: string;
  /** Timeout of one attempt (queueing for a connection included); default 10 s. */
  readonly attemptTimeoutMs?: number;
  readonly retry?: Partial<ImdsRetryOptions>;
  /** Default `pod-identity`. */
  readonly userAgent?: string;
  /** Connections kept to IMDS; default 5 (IMDS serves 5 concurrent identity requests per VM). */
  readonly maxConnections?: number;
  /** Idle keep-alive of pooled connections; default 30 s. */
  readonly keepAliveTimeoutMs?: number;
  readonly clock?: Clock;
  /** For backoff jitter; default Math.random. */
  readonly random?: () => number;
  readonly onRetry?: (event: ImdsRetryEvent) => void;
}

/** The token URL for a request (path and query as @azure/identity and adal send them). */
export function imdsTokenUrl(endpoint: string, request: ImdsTokenRequest): string {
  const url = new URL(IMDS_TOKEN_PATH, endpoint);
  url.searchParams.set('api-version', IMDS_TOKEN_API_VERSION);
  url.searchParams.set('resource', request.resource);
  const selector = request.selector;
  if (selector !== undefined) url.searchParams.set(selector.kind === 'resource_id' ? 'msi_res_id' : selector.kind, selector.value);
  return url.toString();
}

/** Statuses IMDS documents as transient (azure-protocols.md §1.3), plus 408 as adal retried it. */
export function isRetryableImdsStatus(status: number): boolean {
  return status === 404 || status === 408 || status === 410 || status === 429 || (status >= 500 && status <= 599);
}

/** A 200 whose body is not a usable token; the message never contains the body. */
export class ImdsResponseFormatError extends Error {
  constructor(problem: string) {
    super(`malformed token response: ${problem}`);
    this.name = 'ImdsResponseFormatError';
  }
}

/** A non-negative number from a JSON number or a numeric string (IMDS sends every number as a string). */
function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}

/** `expires_on`: epoch seconds (number or numeric string), or a date string as older App Service sent. */
function expiresOnMsOf(value: unknown): number | undefined {
  const seconds = numberOf(value);
  if (seconds !== undefined) return seconds * 1000;
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  return undefined;
}

/**
 * Reads IMDS's success body into an {@link AccessToken}: expiry from `expires_on` (epoch seconds),
 * else `expires_in` from `nowMs`; `not_before` when present; `clientId` from the response, else the
 * client ID that was asked for. `resource` is the requested one, byte for byte (IMDS echoes it; the
 * pod's SDK caches by it). Throws {@link ImdsResponseFormatError}.
 */
export function parseImdsTokenResponse(text: string, request: ImdsTokenRequest, nowMs: number): AccessToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ImdsResponseFormatError('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ImdsResponseFormatError('not a JSON object');
  const body = parsed as Record<string, unknown>;
  const accessToken = body['access_token'];
  if (typeof accessToken !== 'string' || accessToken === '') throw new ImdsResponseFormatError('no access_token');
  const tokenType = body['token_type'];
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) throw new ImdsResponseFormatError('token_type is not Bearer');
  const expiresInSeconds = numberOf(body['expires_in']);
  const expiresOnMs = expiresOnMsOf(body['expires_on']) ?? (expiresInSeconds === undefined ? undefined : nowMs + expiresInSeconds * 1000);
  if (expiresOnMs === undefined) throw new ImdsResponseFormatError('neither expires_on nor expires_in is a number');
  const notBeforeSeconds = numberOf(body['not_before']);
  const responseClientId = body['client_id'];
  const clientId =
    typeof responseClientId === 'string' && responseClientId !== ''
      ? responseClientId
      : request.selector?.kind === 'client_id'
        ? request.selector.value
        : undefined;
  return {
    accessToken,
    expiresOnMs: Math.round(expiresOnMs),
    ...(notBeforeSeconds === undefined ? {} : { notBeforeMs: notBeforeSeconds * 1000 }),
    resource: request.resource,
    ...(clientId === undefined ? {} : { clientId }),
  };
}

/** The error context of a request: which identity, which resource. */
export function imdsRequestContext(request: ImdsTokenRequest): TokenRequestContext {
  const selector = request.selector;
  if (selector === undefined) return { endpoint: 'imds', resource: request.resource, selector: 'default identity' };
  if (selector.kind === 'client_id') return { endpoint: 'imds', resource: request.resource, clientId: selector.value };
  return { endpoint: 'imds', resource: request.resource, selector: `${selector.kind === 'object_id' ? 'object ID' : 'resource ID'} ${selector.value}` };
}

/** One attempt's outcome: an HTTP answer, or no answer. */
type AttemptOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly retryAfter: string | undefined; readonly text: string }
  | { readonly kind: 'transport'; readonly reason: string; readonly error: unknown };

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export class ImdsTokenClient {
  readonly endpoint: string;
  private readonly attemptTimeoutMs: number;
  private readonly retry: ImdsRetryOptions;
  private readonly backoff: BackoffPolicy;
  private readonly userAgent: string;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly onRetry: ((event: ImdsRetryEvent) => void) | undefined;
  /** node:http rather than undici: undici's WASM parser brings V8's WebAssembly compilers (~15 MB RSS in NMI). */
  private readonly agent: HttpAgent;
  private readonly send: typeof nodeHttp.request;

  constructor(options: ImdsTokenClientOptions = {}) {
    const endpoint = new URL(options.endpoint ?? IMDS_ENDPOINT);
    if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new TypeError(`IMDS endpoint ${JSON.stringify(options.endpoint)} must be an http URL`);
    this.endpoint = endpoint.origin;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 10_000;
    this.retry = { ...DEFAULT_IMDS_RETRY, ...options.retry };
    this.backoff = { baseMs: this.retry.baseDelayMs, maxMs: this.retry.maxDelayMs, jitter: 0.2 };
    this.userAgent = options.userAgent ?? 'pod-identity';
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.onRetry = options.onRetry;
    // At most maxConnections requests at once; more wait for a free connection (inside the attempt's timeout).
    const pool = { keepAlive: true, maxSockets: options.maxConnections ?? 5, timeout: options.keepAliveTimeoutMs ?? 30_000 };
    const secure = endpoint.protocol === 'https:';
    this.agent = secure ? new HttpsAgent(pool) : new nodeHttp.Agent(pool);
    this.send = secure ? httpsRequest : nodeHttp.request;
  }

  /**
   * A token for `request.resource` from the identity the selector names. Rejects with a
   * {@link TokenRequestError}, or with the signal's reason when `signal` aborts first.
   */
  async getToken(request: ImdsTokenRequest, signal?: AbortSignal): Promise<AccessToken> {
    const url = imdsTokenUrl(this.endpoint, request);
    const context = imdsRequestContext(request);
    let last: AttemptOutcome | undefined;
    let retryAfterMs: number | undefined;
    for (let attempt = 1; attempt <= this.retry.maxAttempts; attempt++) {
      signal?.throwIfAborted();
      const outcome = await this.attempt(url, signal);
      signal?.throwIfAborted();
      if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) {
        try {
          return parseImdsTokenResponse(outcome.text, request, this.clock.now());
        } catch (error) {
          // A broken 200 is not IMDS refusing, and retrying it at once rarely helps.
          throw new TokenRequestError('unavailable', context, { upstream: { status: outcome.status }, reason: (error as Error).message });
        }
      }
      if (outcome.kind === 'response' && !isRetryableImdsStatus(outcome.status)) {
        throw new TokenRequestError('rejected', context, { upstream: { status: outcome.status, ...parseOAuthErrorBody(outcome.text) } });
      }
      last = outcome;
      retryAfterMs = outcome.kind === 'response' ? parseRetryAfter(outcome.retryAfter, this.clock.now()) : undefined;
      if (attempt === this.retry.maxAttempts) break;
      // Waiting out a long Retry-After would hold the pod's request; give up and let the cache back off.
      if (retryAfterMs !== undefined && retryAfterMs > this.retry.maxRetryAfterMs) break;
      const delayMs = retryAfterMs ?? backoffDelay(this.backoff, attempt, this.random);
      this.onRetry?.({ attempt, delayMs, status: outcome.kind === 'response' ? outcome.status : undefined, reason: outcome.kind === 'response' ? `HTTP ${outcome.status}` : outcome.reason });
      await this.clock.sleep(delayMs, signal);
    }
    throw this.unavailable(context, last, retryAfterMs);
  }

  /** Closes the pooled connections. */
  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  private unavailable(context: TokenRequestContext, last: AttemptOutcome | undefined, retryAfterMs: number | undefined): TokenRequestError {
    if (last === undefined || last.kind === 'transport') {
      return new TokenRequestError('unavailable', context, { reason: last?.reason ?? 'no attempt made', cause: last?.error });
    }
    const upstream: UpstreamAnswer = { status: last.status, ...parseOAuthErrorBody(last.text) };
    const throttled = last.status === 429 || (retryAfterMs !== undefined && last.status === 503);
    if (!throttled) return new TokenRequestError('unavailable', context, { upstream });
    const backoffMs = retryAfterMs ?? DEFAULT_THROTTLE_BACKOFF_MS;
    const cause = new RetryAfterError(`IMDS throttled (HTTP ${last.status}), retry after ${backoffMs} ms`, backoffMs, { code: 'PI_IMDS_THROTTLED' });
    return new TokenRequestError('unavailable', context, { upstream, cause });
  }

  private async attempt(url: string, signal: AbortSignal | undefined): Promise<AttemptOutcome> {
    const timeout = new AbortController();
    const cancelTimer = this.clock.setTimer(this.attemptTimeoutMs, () => {
      timeout.abort(new Error(`timed out after ${this.attemptTimeoutMs} ms`));
    });
    const combined = signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal]);
    try {
      const request = this.send(url, {
        method: 'GET',
        headers: { metadata: 'true', 'user-agent': this.userAgent, 'x-ms-client-request-id': randomUUID() },
        agent: this.agent,
        signal: combined,
      });
      const response = await requestText(request);
      return { kind: 'response', status: response.status, retryAfter: headerValue(response.headers['retry-after']), text: response.body };
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      const reason = timeout.signal.aborted ? (timeout.signal.reason as Error).message : describeTransportError(error);
      return { kind: 'transport', reason, error };
    } finally {
      cancelTimer();
    }
  }
}

/** `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:80` — codes and messages only (no request data). */
function describeTransportError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const text = describeError(error);
  return typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text;
}
