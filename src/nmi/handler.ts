/**
 * NMI's request handling, independent of the HTTP framework: a request (raw URL, headers, source
 * address, which listener) in, an {@link Outcome} out — a JSON answer or "proxy this to IMDS". The
 * route order is upstream's (routes.ts); each step's refusal is an IMDS-shaped JSON error.
 *
 * Token path: validate → per-pod rate limit → pod by source address → exception / identity decision
 * (waiting in standard mode) → token (cache, single-flight, IMDS limiter) → verify the identity of
 * what came back → answer, with one audit record per request that reached a decision.
 * @module
 */
import type { Logger } from 'pino';
import type { AzureIdentity } from '../api/index.ts';
import type { ImdsIdentitySelector } from '../azure/imds-token-client.ts';
import { TokenRequestError, nmiStatusFor } from '../azure/token-errors.ts';
import type { Clock } from '../lib/clock.ts';
import type { KeyedWaiter } from '../lib/keyed-waiter.ts';
import { describeError, findInChain, RetryAfterError } from '../lib/errors.ts';
import type { IdentityFinder } from './identity-finder.ts';
import {
  identityNotFound,
  imdsErrorBody,
  instanceMetadataBlocked,
  internalError,
  invalidTokenPath,
  metadataHeaderMissing,
  type ImdsError,
} from './imds-errors.ts';
import type { KeyedRateLimiter } from './limits.ts';
import type { NmiMetrics, NmiOperation } from './metrics.ts';
import type { NodeView } from './node-view.ts';
import { canonicalIp, type NodePod } from './pods.ts';
import { classifyPath } from './routes.ts';
import type { ServedToken, TokenService } from './token-service.ts';
import { hasMetadataHeader, parseHostTokenRequest, parseTokenRequest, type IdentitySelector, type RequestHeaders } from './token-request.ts';
import { imdsTokenBody, imdsTokenPayload } from './token-response.ts';

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

export type Outcome =
  | { readonly kind: 'json'; readonly status: number; readonly body: unknown; readonly headers?: Readonly<Record<string, string>> }
  | { readonly kind: 'proxy' };

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

/** The audit record of one token decision; never the token. */
interface Audit {
  podUid: string;
  namespace: string;
  pod: string;
  identity?: string;
  identityType?: number;
  clientId?: string;
  resource: string;
  cacheHit?: boolean;
  decision: 'issued' | 'refused' | 'error';
  status: number;
  reason?: string;
}

const answer = (status: number, body: unknown, headers?: Record<string, string>): Outcome => ({ kind: 'json', status, body, ...(headers === undefined ? {} : { headers }) });

function errorOutcome(error: ImdsError): Outcome {
  return answer(error.status, imdsErrorBody(error), error.retryAfterSeconds === undefined ? undefined : { 'retry-after': String(error.retryAfterSeconds) });
}

function forbidden(description: string, error = 'forbidden'): ImdsError {
  return { status: 403, error, description };
}

function imdsSelector(selector: IdentitySelector | undefined): ImdsIdentitySelector | undefined {
  return selector === undefined ? undefined : { kind: selector.kind, value: selector.value };
}

const identityName = (identity: AzureIdentity): string => `${identity.metadata.namespace ?? ''}/${identity.metadata.name ?? ''}`;

/** A token-path failure that is an answer, not a bug. */
class Refusal extends Error {
  readonly answer: ImdsError;
  constructor(answer: ImdsError) {
    super(answer.description);
    this.answer = answer;
  }
}

/** Refusals held back per address at most, and for how long each (see rateLimited). */
const TARPIT_LIMIT = 64;
const TARPIT_MAX_MS = 1_000;

export class NmiHandler {
  private readonly deps: HandlerDeps;
  /** Refusals being held back, by address. */
  private readonly tarpitted = new Map<string, number>();

  constructor(deps: HandlerDeps) {
    this.deps = deps;
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
        outcome = this.deps.options.metadataHeaderRequired && !hasMetadataHeader(request.headers) ? errorOutcome(metadataHeaderMissing()) : { kind: 'proxy' };
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

  private async token(request: IncomingRequest): Promise<{ outcome: Outcome; namespace: string; resource: string }> {
    const address = canonicalIp(request.remoteAddress);
    // The per-pod limit comes first: a flooding pod's requests cost as little as possible.
    const limited = await this.rateLimited(address, request.signal);
    if (limited !== undefined) return { outcome: limited, namespace: '', resource: '' };
    const parsed = parseTokenRequest(new URLSearchParams(queryOf(request.rawUrl)), request.headers, { metadataHeaderRequired: this.deps.options.metadataHeaderRequired });
    if (!parsed.ok) return { outcome: errorOutcome(parsed.error), namespace: '', resource: '' };
    const { resource, selector } = parsed.request;
    let pod: NodePod;
    try {
      pod = await this.podAt(address, request.signal);
    } catch (error) {
      if (error instanceof Refusal) {
        this.deps.logger.warn({ audit: { address, resource, decision: 'refused', status: error.answer.status, reason: error.answer.description } }, 'token request from an address that is not one pod of this node');
        return { outcome: errorOutcome(error.answer), namespace: '', resource };
      }
      throw error;
    }
    const outcome = await this.serve(pod, selector, resource, request.signal);
    return { outcome: outcome.outcome, namespace: pod.namespace, resource };
  }

  private async hostToken(request: IncomingRequest): Promise<{ outcome: Outcome; namespace: string; resource: string }> {
    const address = canonicalIp(request.remoteAddress);
    if (!request.hostListener || address !== '127.0.0.1') {
      // Pod traffic DNATed to NMI keeps the pod's source address, so a pod never gets here.
      return { outcome: errorOutcome(forbidden('request remote address is not from a host: /host/token is served only on 127.0.0.1')), namespace: '', resource: '' };
    }
    const parsed = parseHostTokenRequest(request.headers, new URLSearchParams(queryOf(request.rawUrl)));
    if (!parsed.ok) return { outcome: errorOutcome(parsed.error), namespace: '', resource: '' };
    const { podNamespace, podName, resource } = parsed.request;
    const pod = this.deps.view.pod(podNamespace, podName);
    if (pod === undefined) {
      return { outcome: errorOutcome(identityNotFound(`pod ${podNamespace}/${podName} is not on node ${this.deps.options.nodeName}`)), namespace: '', resource };
    }
    const served = await this.serve(pod, undefined, resource, request.signal);
    if (served.outcome.kind !== 'json' || served.outcome.status !== 200 || served.first === undefined) return { outcome: served.outcome, namespace: pod.namespace, resource };
    // Upstream's /host/token shape: the first token and the identity's client ID.
    const body = { token: imdsTokenBody(served.first, resource, this.deps.clock.now(), served.clientId), clientid: served.clientId ?? served.first.clientId ?? '' };
    return { outcome: answer(200, body), namespace: pod.namespace, resource };
  }

  /**
   * 429 + Retry-After when `address` is over its rate, else undefined. The answer is held back for up
   * to a second (at most {@link TARPIT_LIMIT} held per address): a client that floods in a closed loop
   * is slowed to its connection count per second instead of costing NMI thousands of refusals per
   * second, which keeps other pods' latency flat.
   */
  private async rateLimited(address: string, signal: AbortSignal | undefined): Promise<Outcome | undefined> {
    try {
      this.deps.perPod.take(address);
      return undefined;
    } catch (error) {
      const wait = findInChain(error, RetryAfterError)?.retryAfterMs ?? 1_000;
      const held = this.tarpitted.get(address) ?? 0;
      if (held < TARPIT_LIMIT) {
        this.tarpitted.set(address, held + 1);
        try {
          await this.deps.clock.sleep(Math.min(wait, TARPIT_MAX_MS), signal).catch(() => undefined);
        } finally {
          const now = (this.tarpitted.get(address) ?? 1) - 1;
          if (now <= 0) this.tarpitted.delete(address);
          else this.tarpitted.set(address, now);
        }
      }
      return errorOutcome({ status: 429, error: 'too_many_requests', description: describeError(error), retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) });
    }
  }

  /**
   * The one pod at `address`; while it is unknown (the informer may lag a new pod) or only a pod being
   * deleted has it (a new pod may be the caller), waits for the address to reach the cache, up to
   * `attempts` × `intervalMs`.
   */
  private async podAt(address: string, signal: AbortSignal | undefined): Promise<NodePod> {
    const { attempts, intervalMs } = this.deps.options.podLookup;
    for (let attempt = 1; ; attempt++) {
      const match = this.deps.view.podByAddress(address);
      if (match.kind === 'pod') return match.pod;
      if (match.kind === 'ambiguous') {
        throw new Refusal(internalError(`failed to match pod IP ${address}: ${String(match.count)} pods on node ${this.deps.options.nodeName} have this address`));
      }
      if (match.kind === 'unknown') this.deps.metrics.kubernetesError('get_pod_list');
      if (attempt >= attempts || signal?.aborted === true) {
        throw new Refusal(
          internalError(
            match.kind === 'terminating'
              ? `pod ${match.pod.namespace}/${match.pod.name} at address ${address} is being deleted: its address may already belong to a new pod, so it gets no token`
              : `no pod of node ${this.deps.options.nodeName} has address ${address}`,
          ),
        );
      }
      await this.deps.addresses.wait(address, intervalMs, signal);
    }
  }

  /** Decides and fetches; every outcome that reached a pod is audited. */
  private async serve(
    pod: NodePod,
    selector: IdentitySelector | undefined,
    resource: string,
    signal: AbortSignal | undefined,
  ): Promise<{ outcome: Outcome; first?: ServedToken['token']; clientId?: string | undefined }> {
    const audit: Audit = { podUid: pod.uid, namespace: pod.namespace, pod: pod.name, resource, decision: 'refused', status: 0 };
    try {
      const decision = await this.deps.finder.decide(pod, selector, signal);
      let served: ServedToken[];
      let clientId: string | undefined;
      switch (decision.kind) {
        case 'refuse': {
          const retryAfter = this.deps.options.retryAfterSeconds;
          const error: ImdsError =
            decision.status === 404 ? identityNotFound(decision.description, retryAfter) : { status: decision.status, error: decision.error, description: decision.description };
          throw new Refusal(error);
        }
        case 'node':
          audit.identity = `node (${decision.reason})`;
          served = [await this.deps.tokens.fromImds(imdsSelector(selector), resource, signal)];
          break;
        case 'by-object-id': {
          audit.identity = `object_id ${decision.objectId}`;
          const token = await this.deps.tokens.fromImds({ kind: 'object_id', value: decision.objectId }, resource, signal);
          const match = decision.candidates.find((candidate) => sameId(candidate.spec.clientID, token.token.clientId));
          if (match === undefined) {
            throw new Refusal(identityNotFound(`no azure identity found for request object_id ${decision.objectId}: not an identity of pod ${pod.namespace}/${pod.name}`, this.deps.options.retryAfterSeconds));
          }
          audit.identity = identityName(match);
          audit.identityType = match.spec.type;
          served = [token];
          clientId = match.spec.clientID;
          break;
        }
        case 'identity': {
          const identity = decision.identity;
          audit.identity = identityName(identity);
          audit.identityType = identity.spec.type;
          clientId = identity.spec.clientID;
          served = await this.fetch(identity, resource, signal);
          break;
        }
      }
      const tokens = served.map((entry) => entry.token);
      const [first] = tokens;
      audit.decision = 'issued';
      audit.status = 200;
      audit.cacheHit = served.every((entry) => entry.cacheHit);
      audit.clientId = clientId ?? first?.clientId;
      this.deps.metrics.observeDecision('issued', audit.cacheHit);
      this.deps.logger.info({ audit }, 'token issued');
      return { outcome: answer(200, imdsTokenPayload(tokens, resource, this.deps.clock.now(), clientId)), first, clientId };
    } catch (error) {
      const refusal = error instanceof Refusal ? error.answer : this.failure(error, audit, signal?.aborted === true);
      audit.decision = error instanceof Refusal ? 'refused' : 'error';
      audit.status = refusal.status;
      audit.reason = refusal.description;
      this.deps.metrics.observeDecision(audit.decision, false);
      this.deps.logger.info({ audit }, error instanceof Refusal ? 'token refused' : 'token request failed');
      return { outcome: errorOutcome(refusal) };
    }
  }

  /** A type-0 identity from IMDS by client ID (or resource ID), a service principal from Entra ID. */
  private async fetch(identity: AzureIdentity, resource: string, signal: AbortSignal | undefined): Promise<ServedToken[]> {
    const owner = { namespace: identity.metadata.namespace ?? '', name: identity.metadata.name ?? '', clientId: identity.spec.clientID };
    if (identity.spec.type === 1 || identity.spec.type === 2) return this.deps.tokens.fromServicePrincipal(identity, resource, signal);
    const clientId = identity.spec.clientID ?? '';
    const selector: ImdsIdentitySelector = clientId !== '' ? { kind: 'client_id', value: clientId } : { kind: 'resource_id', value: identity.spec.resourceID ?? '' };
    const served = await this.deps.tokens.fromImds(selector, resource, signal, owner);
    // IMDS answers for whatever it resolved; never hand out a token of another identity.
    if (clientId !== '' && served.token.clientId !== undefined && !sameId(served.token.clientId, clientId)) {
      throw new Refusal(forbidden(`IMDS returned a token for another client ID than identity ${identityName(identity)}'s`));
    }
    return [served];
  }

  /** Maps a token failure to an answer (upstream: 403 when the endpoint refused, 503 otherwise). */
  private failure(error: unknown, audit: Audit, callerGone: boolean): ImdsError {
    const retryAfterMs = findInChain(error, RetryAfterError)?.retryAfterMs;
    if (error instanceof TokenRequestError) {
      const status = nmiStatusFor(error);
      return {
        status,
        error: error.upstreamError ?? (status === 403 ? 'forbidden' : 'service_unavailable'),
        description: error.message,
        ...(status === 503 && retryAfterMs !== undefined ? { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) } : {}),
      };
    }
    if (retryAfterMs !== undefined) {
      // Our own IMDS limiter is full: the caller should come back shortly, as IMDS would say.
      return { status: 429, error: 'too_many_requests', description: describeError(error), retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) };
    }
    // A caller that hung up mid-fetch is no NMI error (the fuzzer's pipelined requests did it); the audit record has it.
    if (!callerGone) this.deps.logger.error({ err: describeError(error), pod: `${audit.namespace}/${audit.pod}`, identity: audit.identity }, 'token request failed');
    return { status: 503, error: 'service_unavailable', description: describeError(error) };
  }
}

function sameId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a !== '' && a.toLowerCase() === b.toLowerCase();
}

function queryOf(rawUrl: string): string {
  const index = rawUrl.indexOf('?');
  if (index === -1) return '';
  const hash = rawUrl.indexOf('#', index);
  return rawUrl.slice(index + 1, hash === -1 ? undefined : hash);
}
