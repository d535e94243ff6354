/**
 * What the Entra ID token clients share — service principals (service-principal-token-client.ts) and
 * federated identities (federated-token-client.ts): @azure/identity credentials kept per (tenant,
 * client ID, authority, what the client's credential material says) in a bounded map, each holding
 * MSAL's in-memory token cache; one way to build their options (authority, instance discovery,
 * retries, User-Agent, extra CA); and one way to ask for a token, with failures converted to
 * {@link TokenRequestError}s (entra-errors.ts).
 *
 * Upstream asked the v1 endpoint for a `resource`; MSAL speaks v2, so the resource becomes the scope
 * `<resource>/.default` and the token is returned under the resource exactly as requested.
 *
 * MSAL refuses an identical request by itself for a while after a 429 or 5xx (azure-protocols.md
 * §5.3) without saying for how long: such a failure is `unavailable` with a RetryAfterError
 * (entra-errors.ts), so the token cache backs off instead of asking again at once.
 * @module
 */
import type { AccessToken as AzureAccessToken, TokenCredential } from '@azure/identity';
import { Agent, request as undiciRequest } from 'undici';
import { normalizeHttpsEndpoint, resolveCloud, type ResolvedCloud } from './clouds.ts';
import { isEndpointsResolutionError, toTokenRequestError } from './entra-errors.ts';
import { parseOAuthErrorBody, TokenRequestError, type TokenRequestContext, type UpstreamAnswer } from './token-errors.ts';
import type { AccessToken } from './access-token.ts';
import { LruMap } from '../lib/lru-map.ts';

export interface EntraCredentialPoolOptions {
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

/** The options every credential of the pool is built with (a subset of each credential's options type). */
export interface EntraCredentialOptions {
  readonly authorityHost: string;
  /** MSAL has no metadata for a host it does not know (Azure Stack, the simulator): skip the lookup. */
  readonly disableInstanceDiscovery: boolean;
  readonly retryOptions: { readonly maxRetries: number; readonly retryDelayInMs: number; readonly maxRetryDelayInMs: number };
  readonly userAgentOptions?: { readonly userAgentPrefix: string };
  readonly tlsOptions?: { readonly ca: string };
}

/** One token request through the pool. */
export interface EntraTokenRequest {
  readonly tenantId: string;
  readonly clientId: string;
  /** v1 resource (audience), e.g. `https://management.azure.com/`. */
  readonly resource: string;
  /** The AzureIdentity's `adEndpoint`; default the cloud's authority host. */
  readonly adEndpoint?: string | undefined;
  /** Tells apart credentials of the same tenant, client and authority (a secret's fingerprint); '' when there is only one. */
  readonly credentialKey: string;
  /** Builds the credential when the pool has none for the request. */
  readonly createCredential: (options: EntraCredentialOptions) => TokenCredential;
  /** Values to redact from error descriptions (secrets, assertions), asked only when a request failed. */
  readonly redact: () => readonly string[];
}

/** v2 scope of a v1 resource: `<resource>/.default`, keeping a trailing slash (MSAL needs `…//.default` then). */
export function scopeForResource(resource: string): string {
  return `${resource}/.default`;
}

interface CachedCredential {
  readonly credential: TokenCredential;
  readonly authorityHost: string;
}

export class EntraCredentialPool {
  private readonly cloud: Pick<ResolvedCloud, 'authorityHost' | 'knownAuthorityHost'>;
  private readonly caPem: string | undefined;
  private readonly maxCredentials: number;
  private readonly retryOptions: EntraCredentialOptions['retryOptions'];
  private readonly userAgent: string | undefined;
  private probeAgent: Agent | undefined;
  /** At most `maxCredentials`; the least recently used is dropped beyond. */
  private readonly credentials: LruMap<string, CachedCredential>;
  /** Whether MSAL knows an authority host, by host URL. */
  private readonly knownHosts = new Map<string, boolean>();

  constructor(options: EntraCredentialPoolOptions) {
    this.cloud = options.cloud;
    this.caPem = options.caPem;
    this.maxCredentials = Math.max(1, options.maxCredentials ?? 256);
    this.credentials = new LruMap(this.maxCredentials);
    // @azure/identity's default (3 retries from 800 ms) holds a pod's request for ~6 s on a 5xx.
    this.retryOptions = { maxRetries: options.maxRetries ?? 2, retryDelayInMs: options.retryDelayMs ?? 200, maxRetryDelayInMs: 2_000 };
    this.userAgent = options.userAgent;
    this.knownHosts.set(options.cloud.authorityHost, options.cloud.knownAuthorityHost);
  }

  /** Credentials currently cached (for tests and metrics). */
  get size(): number {
    return this.credentials.size;
  }

  /**
   * A token for `request.resource`. Rejects with a {@link TokenRequestError} (a throttled one carries a
   * RetryAfterError), or with the signal's reason when `signal` aborts first.
   */
  async getToken(request: EntraTokenRequest, signal?: AbortSignal): Promise<AccessToken> {
    signal?.throwIfAborted();
    const { tenantId, clientId, resource } = request;
    const context: TokenRequestContext = { endpoint: 'entra', resource, clientId, tenantId };
    let token: AzureAccessToken | null;
    let authorityHost: string | undefined;
    try {
      const cached = await this.credentialFor(request);
      authorityHost = cached.authorityHost;
      token = await cached.credential.getToken(scopeForResource(resource), signal === undefined ? {} : { abortSignal: signal });
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      const converted = toTokenRequestError(error, context, request.redact());
      if (authorityHost !== undefined && isEndpointsResolutionError(error)) {
        const answer = await this.probeOpenIdConfiguration(authorityHost, tenantId, signal);
        if (answer !== undefined) throw new TokenRequestError('rejected', context, { upstream: answer, cause: error });
      }
      throw converted;
    }
    if (token === null) throw new TokenRequestError('unavailable', context, { reason: 'the credential returned no token' });
    return { accessToken: token.token, expiresOnMs: token.expiresOnTimestamp, resource, clientId };
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

  private async credentialFor(request: EntraTokenRequest): Promise<CachedCredential> {
    const authority = await this.authorityOf(request.adEndpoint);
    const key = [request.tenantId.toLowerCase(), request.clientId.toLowerCase(), authority.host, request.credentialKey].join('|');
    const cached = this.credentials.get(key);
    if (cached !== undefined) return cached;
    const options: EntraCredentialOptions = {
      authorityHost: authority.host,
      disableInstanceDiscovery: !authority.known,
      retryOptions: this.retryOptions,
      ...(this.userAgent === undefined ? {} : { userAgentOptions: { userAgentPrefix: this.userAgent } }),
      ...(this.caPem === undefined ? {} : { tlsOptions: { ca: this.caPem } }),
    };
    const entry = { credential: request.createCredential(options), authorityHost: authority.host };
    this.credentials.set(key, entry);
    return entry;
  }
}
