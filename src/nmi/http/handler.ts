/**
 * NMI's request handling, independent of the HTTP framework: a request (raw URL, headers, source
 * address, which listener) in, an {@link Outcome} out — a JSON answer or "proxy this to IMDS". The
 * route order is upstream's (routes.ts); each step's refusal is an IMDS-shaped JSON error
 * (imds-errors.ts). One `aadpodidentity_nmi_operations_duration_seconds` observation per request.
 *
 * Token path: validate → per-pod rate limit (rate-limit.ts) → pod by source address
 * (identity/pod-lookup.ts) → identity decision, tokens and audit (token-issuer.ts) → answer.
 * @module
 */
import type { Logger } from 'pino';
import type { Clock } from '../../lib/clock.ts';
import type { KeyedWaiter } from '../../lib/keyed-waiter.ts';
import type { IdentityFinder } from '../identity/identity-finder.ts';
import type { NodeView } from '../identity/node-view.ts';
import { CallerNotFound, PodLookup } from '../identity/pod-lookup.ts';
import { canonicalIp, type NodePod } from '../identity/pods.ts';
import type { KeyedRateLimiter } from '../limits.ts';
import type { NmiMetrics, NmiOperation } from '../metrics.ts';
import type { TokenService } from '../tokens/token-service.ts';
import { hostTokenForbidden, identityNotFound, instanceMetadataBlocked, internalError, invalidTokenPath, metadataHeaderMissing } from './imds-errors.ts';
import { answer, errorOutcome, PROXY, type Outcome } from './outcome.ts';
import { PodRateLimit } from './rate-limit.ts';
import { classifyPath } from './routes.ts';
import { TokenIssuer } from './token-issuer.ts';
import { hasMetadataHeader, parseHostTokenRequest, parseTokenQuery, tokenHeadersRefusal, type ParseResult, type RequestHeaders, type TokenRequest, type TokenRequestOptions } from './token-request.ts';
import { imdsTokenBody } from './token-response.ts';

export interface IncomingRequest {
  readonly method: string;
  /** Path and query exactly as received. */
  readonly rawUrl: string;
  readonly headers: RequestHeaders;
  readonly remoteAddress: string;
  /** Arrived on the loopback-only listener that may serve /host/token. */
  readonly hostListener: boolean;
  /** Aborts when the client goes away. */
  readonly signal?: AbortSignal;
}

export interface HandlerOptions {
  readonly nodeName: string;
  readonly metadataHeaderRequired: boolean;
  readonly blockInstanceMetadata: boolean;
  /** `--set-retry-after-header`: 503 + Retry-After instead of 404 while the identity is not available. */
  readonly retryAfterSeconds: number | undefined;
  /** Pod lookups retried while the address is unknown (informer lag right after a pod starts). */
  readonly podLookup: { readonly attempts: number; readonly intervalMs: number };
}

export interface HandlerDeps {
  readonly view: NodeView;
  /** Woken (key: pod address) when a pod's address reaches the cache. */
  readonly addresses: KeyedWaiter;
  readonly finder: IdentityFinder;
  readonly tokens: TokenService;
  readonly perPod: KeyedRateLimiter;
  readonly metrics: NmiMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly options: HandlerOptions;
}

/** What a token route answered, and the labels of its metric. */
interface Answered {
  readonly outcome: Outcome;
  readonly namespace: string;
  readonly resource: string;
}

export class NmiHandler {
  private readonly deps: HandlerDeps;
  private readonly rateLimit: PodRateLimit;
  private readonly pods: PodLookup;
  private readonly issuer: TokenIssuer;
  private readonly parseOptions: TokenRequestOptions;
  /** The last token query and what it parsed to: an SDK sends the same query every time. */
  private lastQuery: { readonly text: string; readonly parsed: ParseResult<TokenRequest> } | undefined;

  constructor(deps: HandlerDeps) {
    this.deps = deps;
    const { metrics, options } = deps;
    this.parseOptions = { metadataHeaderRequired: options.metadataHeaderRequired };
    this.rateLimit = new PodRateLimit(deps.perPod, deps.clock);
    this.pods = new PodLookup({
      view: deps.view,
      addresses: deps.addresses,
      nodeName: options.nodeName,
      ...options.podLookup,
      onUnknownAddress: () => {
        metrics.kubernetesError('get_pod_list');
      },
    });
    this.issuer = new TokenIssuer({ finder: deps.finder, tokens: deps.tokens, metrics, logger: deps.logger, clock: deps.clock, retryAfterSeconds: options.retryAfterSeconds });
  }

  async handle(request: IncomingRequest): Promise<Outcome> {
    const started = this.deps.clock.now();
    const route = classifyPath(request.rawUrl);
    let operation: NmiOperation;
    let outcome: Outcome;
    let namespace = '';
    let resource = '';
    switch (route.kind) {
      case 'invalid-token-path':
        operation = 'invalid_path';
        outcome = errorOutcome(invalidTokenPath());
        break;
      case 'host-token': {
        operation = 'host_token';
        const result = await this.hostToken(request);
        ({ outcome, namespace, resource } = result);
        break;
      }
      case 'instance':
      case 'proxy':
        if (route.kind === 'instance' && this.deps.options.blockInstanceMetadata) {
          operation = 'instance_blocked';
          outcome = errorOutcome(instanceMetadataBlocked());
          break;
        }
        // Not blocked: proxied like any other path, behind the same Metadata header check.
        operation = 'proxy';
        outcome = this.deps.options.metadataHeaderRequired && !hasMetadataHeader(request.headers) ? errorOutcome(metadataHeaderMissing()) : PROXY;
        break;
      case 'token': {
        operation = 'token';
        const result = await this.token(request);
        ({ outcome, namespace, resource } = result);
        break;
      }
    }
    const status = outcome.kind === 'json' ? outcome.status : 200;
    this.deps.metrics.observeRequest(operation, status, (this.deps.clock.now() - started) / 1000, namespace, resource, request.rawUrl);
    return outcome;
  }

  private async token(request: IncomingRequest): Promise<Answered> {
    const address = canonicalIp(request.remoteAddress);
    // The per-pod limit comes first: a flooding pod's requests cost as little as possible.
    const limited = this.rateLimit.refusal(address, request.signal);
    if (limited !== undefined) return { outcome: errorOutcome(await limited), namespace: '', resource: '' };
    const parsed = tokenHeadersRefusal(request.headers, this.parseOptions) ?? this.parseQuery(queryOf(request.rawUrl));
    if (!parsed.ok) return { outcome: errorOutcome(parsed.error), namespace: '', resource: '' };
    const { resource, selector } = parsed.request;
    let pod: NodePod;
    try {
      pod = await this.pods.podAt(address, request.signal);
    } catch (error) {
      if (!(error instanceof CallerNotFound)) throw error;
      const refusal = internalError(error.message);
      this.deps.logger.warn({ audit: { address, resource, decision: 'refused', status: refusal.status, reason: refusal.description } }, 'token request from an address that is not one pod of this node');
      return { outcome: errorOutcome(refusal), namespace: '', resource };
    }
    const issued = await this.issuer.issue(pod, selector, resource, request.signal);
    return { outcome: issued.outcome, namespace: pod.namespace, resource };
  }

  private parseQuery(text: string): ParseResult<TokenRequest> {
    if (this.lastQuery?.text === text) return this.lastQuery.parsed;
    const parsed = parseTokenQuery(new URLSearchParams(text));
    this.lastQuery = { text, parsed };
    return parsed;
  }

  private async hostToken(request: IncomingRequest): Promise<Answered> {
    const address = canonicalIp(request.remoteAddress);
    // Pod traffic DNATed to NMI keeps the pod's source address, so a pod never gets here.
    if (!request.hostListener || address !== '127.0.0.1') return { outcome: errorOutcome(hostTokenForbidden()), namespace: '', resource: '' };
    const parsed = parseHostTokenRequest(request.headers, new URLSearchParams(queryOf(request.rawUrl)));
    if (!parsed.ok) return { outcome: errorOutcome(parsed.error), namespace: '', resource: '' };
    const { podNamespace, podName, resource } = parsed.request;
    const pod = this.deps.view.pod(podNamespace, podName);
    if (pod === undefined) {
      return { outcome: errorOutcome(identityNotFound(`pod ${podNamespace}/${podName} is not on node ${this.deps.options.nodeName}`)), namespace: '', resource };
    }
    const issued = await this.issuer.issue(pod, undefined, resource, request.signal);
    if (issued.outcome.kind !== 'json' || issued.outcome.status !== 200 || issued.first === undefined) return { outcome: issued.outcome, namespace: pod.namespace, resource };
    // Upstream's /host/token shape: the first token and the identity's client ID.
    const body = { token: imdsTokenBody(issued.first, resource, this.deps.clock.now(), issued.clientId), clientid: issued.clientId ?? issued.first.clientId ?? '' };
    return { outcome: answer(200, body), namespace: pod.namespace, resource };
  }
}

function queryOf(rawUrl: string): string {
  const index = rawUrl.indexOf('?');
  if (index === -1) return '';
  const hash = rawUrl.indexOf('#', index);
  return rawUrl.slice(index + 1, hash === -1 ? undefined : hash);
}
