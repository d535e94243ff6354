/**
 * Tokens for service-principal identities (AzureIdentity types 1 and 2) from Entra ID with
 * @azure/identity's ClientSecretCredential / ClientCertificateCredential (aad-pod-identity-behaviour.md
 * §3.3.3). Upstream asked the v1 endpoint for a `resource`; MSAL speaks v2, so the resource becomes the
 * scope `<resource>/.default` and the token is returned under the resource exactly as requested.
 *
 * Credentials are kept per (tenant, client ID, authority, credential fingerprint) in a bounded map:
 * each holds MSAL's in-memory token cache, so a rotated secret gets a fresh credential and an unchanged
 * one reuses its tokens. Failures become {@link TokenRequestError}s: Entra refusing (AADSTS errors) is
 * `rejected`, network trouble, throttling and 5xx are `unavailable`.
 * @module
 */
import { createHash } from 'node:crypto';
import { ClientCertificateCredential, ClientSecretCredential, type AccessToken as AzureAccessToken, type TokenCredential } from '@azure/identity';
import { Agent, request as undiciRequest } from 'undici';
import { RetryAfterError } from '../lib/errors.ts';
import { normalizeHttpsEndpoint, resolveCloud, type ResolvedCloud } from './clouds.ts';
import type { Secret } from './secret.ts';
import type { ClientCertificate } from './service-principal.ts';
import { aadstsCodeOf, parseOAuthErrorBody, sanitizeUpstreamDescription, TokenRequestError, type TokenRequestContext, type UpstreamAnswer } from './token-errors.ts';
import type { AccessToken } from './access-token.ts';

/** What the identity's Secret gave us (see service-principal.ts). */
export type ServicePrincipalCredential =
  | { readonly kind: 'secret'; readonly clientSecret: Secret }
  | { readonly kind: 'certificate'; readonly certificate: Pick<ClientCertificate, 'pem'> };

export interface ServicePrincipalTokenRequest {
  readonly tenantId: string;
  readonly clientId: string;
  readonly credential: ServicePrincipalCredential;
  /** v1 resource (audience), e.g. `https://management.azure.com/`. */
  readonly resource: string;
  /** The AzureIdentity's `adEndpoint`; default the cloud's authority host. */
  readonly adEndpoint?: string | undefined;
  /** Extra tenants (type 1 only, as upstream: ignored for certificates); see {@link ServicePrincipalTokenClient.getTokens}. */
  readonly auxiliaryTenantIds?: readonly string[] | undefined;
}

export interface ServicePrincipalTokenClientOptions {
  /** The configured cloud: its authority host is the default. */
  readonly cloud: Pick<ResolvedCloud, 'authorityHost' | 'knownAuthorityHost'>;
  /** Extra CA certificates (PEM) to trust for Entra ID (the simulator's, a private cloud's). */
  readonly caPem?: string | undefined;
  /** Credentials kept (least recently used go first); default 256. */
  readonly maxCredentials?: number;
  /** Retries of a failed Entra request (5xx, 429, network) by the credential's pipeline; default 2. */
  readonly maxRetries?: number;
  /** Delay before the first retry, doubling up to 2 s; default 200 ms. */
  readonly retryDelayMs?: number;
  /** Put before @azure/identity's own User-Agent on every Entra ID request (`--custom-user-agent`). */
  readonly userAgent?: string | undefined;
}

/** v2 scope of a v1 resource: `<resource>/.default`, keeping a trailing slash (MSAL needs `…//.default` then). */
export function scopeForResource(resource: string): string {
  return `${resource}/.default`;
}

/** Short fingerprint of the credential material: a changed secret or certificate means a new credential. */
export function credentialFingerprint(credential: ServicePrincipalCredential): string {
  const material = credential.kind === 'secret' ? credential.clientSecret.reveal() : credential.certificate.pem.reveal();
  return createHash('sha256').update(credential.kind).update('\0').update(material).digest('base64url').slice(0, 22);
}

/** Whether MSAL failed to read the authority's OpenID configuration (see {@link ServicePrincipalTokenClient}). */
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

interface CachedCredential {
  readonly credential: TokenCredential;
  readonly authorityHost: string;
}

export class ServicePrincipalTokenClient {
  private readonly cloud: Pick<ResolvedCloud, 'authorityHost' | 'knownAuthorityHost'>;
  private readonly caPem: string | undefined;
  private readonly maxCredentials: number;
  private readonly retryOptions: { readonly maxRetries: number; readonly retryDelayInMs: number; readonly maxRetryDelayInMs: number };
  private readonly userAgent: string | undefined;
  private probeAgent: Agent | undefined;
  /** Insertion order = recency (re-inserted on use). */
  private readonly credentials = new Map<string, CachedCredential>();
  /** Whether MSAL knows an authority host, by host URL. */
  private readonly knownHosts = new Map<string, boolean>();

  constructor(options: ServicePrincipalTokenClientOptions) {
    this.cloud = options.cloud;
    this.caPem = options.caPem;
    this.maxCredentials = Math.max(1, options.maxCredentials ?? 256);
    // @azure/identity's default (3 retries from 800 ms) holds a pod's request for ~6 s on a 5xx.
    this.retryOptions = { maxRetries: options.maxRetries ?? 2, retryDelayInMs: options.retryDelayMs ?? 200, maxRetryDelayInMs: 2_000 };
    this.userAgent = options.userAgent;
    this.knownHosts.set(options.cloud.authorityHost, options.cloud.knownAuthorityHost);
  }

  /** Credentials currently cached (for tests and metrics). */
  get cachedCredentials(): number {
    return this.credentials.size;
  }

  /** A token for the primary tenant. */
  async getToken(request: ServicePrincipalTokenRequest, signal?: AbortSignal): Promise<AccessToken> {
    return this.tokenFor(request, request.tenantId, signal);
  }

  /**
   * One token per tenant: the primary first, then each auxiliary tenant (type 1 only, as upstream).
   * Any failure fails the whole request.
   */
  async getTokens(request: ServicePrincipalTokenRequest, signal?: AbortSignal): Promise<AccessToken[]> {
    const auxiliary = request.credential.kind === 'secret' ? (request.auxiliaryTenantIds ?? []) : [];
    const tenants = [request.tenantId, ...auxiliary.filter((tenant) => tenant.trim() !== '')];
    return Promise.all(tenants.map((tenant) => this.tokenFor(request, tenant, signal)));
  }

  private async tokenFor(request: ServicePrincipalTokenRequest, tenantId: string, signal: AbortSignal | undefined): Promise<AccessToken> {
    signal?.throwIfAborted();
    const context: TokenRequestContext = { endpoint: 'entra', resource: request.resource, clientId: request.clientId, tenantId };
    const secrets = [request.credential.kind === 'secret' ? request.credential.clientSecret.reveal() : request.credential.certificate.pem.reveal()];
    let token: AzureAccessToken | null;
    let authorityHost: string | undefined;
    try {
      const cached = await this.credentialFor(request, tenantId);
      authorityHost = cached.authorityHost;
      token = await cached.credential.getToken(scopeForResource(request.resource), signal === undefined ? {} : { abortSignal: signal });
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      const converted = toTokenRequestError(error, context, secrets);
      if (authorityHost !== undefined && isEndpointsResolutionError(error)) {
        const answer = await this.probeOpenIdConfiguration(authorityHost, tenantId, signal);
        if (answer !== undefined) throw new TokenRequestError('rejected', context, { upstream: answer, cause: error });
      }
      throw converted;
    }
    if (token === null) throw new TokenRequestError('unavailable', context, { reason: 'the credential returned no token' });
    return { accessToken: token.token, expiresOnMs: token.expiresOnTimestamp, resource: request.resource, clientId: request.clientId };
  }

  /** Closes the connections of {@link probeOpenIdConfiguration}. */
  async close(): Promise<void> {
    await this.probeAgent?.close();
    this.probeAgent = undefined;
  }

  /**
   * MSAL reports any failure to read `<authority>/<tenant>/v2.0/.well-known/openid-configuration` as
   * `endpoints_resolution_error`, dropping Entra's answer — an unknown tenant (AADSTS90002) would look
   * like an outage. Ask once more ourselves: an OAuth error in a 4xx answer is Entra refusing.
   */
  private async probeOpenIdConfiguration(authorityHost: string, tenantId: string, signal: AbortSignal | undefined): Promise<UpstreamAnswer | undefined> {
    this.probeAgent ??= new Agent({ connections: 2, ...(this.caPem === undefined ? {} : { connect: { ca: this.caPem } }) });
    const timeout = AbortSignal.timeout(5_000);
    try {
      const response = await undiciRequest(`${authorityHost}/${encodeURIComponent(tenantId)}/v2.0/.well-known/openid-configuration`, {
        method: 'GET',
        dispatcher: this.probeAgent,
        ...(this.userAgent === undefined ? {} : { headers: { 'user-agent': this.userAgent } }),
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
      const text = await response.body.text();
      if (response.statusCode < 400 || response.statusCode >= 500) return undefined;
      const parsed = parseOAuthErrorBody(text);
      return parsed.error === undefined ? undefined : { status: response.statusCode, ...parsed };
    } catch {
      return undefined;
    }
  }

  private async authorityOf(adEndpoint: string | undefined): Promise<{ host: string; known: boolean }> {
    if (adEndpoint === undefined || adEndpoint.trim() === '') return { host: this.cloud.authorityHost, known: this.cloud.knownAuthorityHost };
    const host = normalizeHttpsEndpoint(adEndpoint.trim(), 'adEndpoint');
    let known = this.knownHosts.get(host);
    if (known === undefined) {
      // resolveCloud knows which hosts MSAL has metadata for; with only an override it does no I/O.
      known = (await resolveCloud({ activeDirectoryEndpoint: host })).knownAuthorityHost;
      if (this.knownHosts.size < this.maxCredentials) this.knownHosts.set(host, known);
    }
    return { host, known };
  }

  private async credentialFor(request: ServicePrincipalTokenRequest, tenantId: string): Promise<CachedCredential> {
    const authority = await this.authorityOf(request.adEndpoint);
    const key = [tenantId.toLowerCase(), request.clientId.toLowerCase(), authority.host, credentialFingerprint(request.credential)].join('|');
    const cached = this.credentials.get(key);
    if (cached !== undefined) {
      this.credentials.delete(key);
      this.credentials.set(key, cached);
      return cached;
    }
    const options = {
      authorityHost: authority.host,
      disableInstanceDiscovery: !authority.known,
      retryOptions: this.retryOptions,
      ...(this.userAgent === undefined ? {} : { userAgentOptions: { userAgentPrefix: this.userAgent } }),
      ...(this.caPem === undefined ? {} : { tlsOptions: { ca: this.caPem } }),
    };
    const credential =
      request.credential.kind === 'secret'
        ? new ClientSecretCredential(tenantId, request.clientId, request.credential.clientSecret.reveal(), options)
        : new ClientCertificateCredential(tenantId, request.clientId, { certificate: request.credential.certificate.pem.reveal() }, options);
    const entry = { credential, authorityHost: authority.host };
    this.credentials.set(key, entry);
    while (this.credentials.size > this.maxCredentials) {
      const oldest = this.credentials.keys().next();
      if (oldest.done === true) break;
      this.credentials.delete(oldest.value);
    }
    return entry;
  }
}
