/**
 * The answer to a token request from a known pod: the identity decision (identity/identity-finder.ts,
 * waiting in standard mode), the tokens (tokens/token-service.ts: cache, single-flight, upstream
 * limits), a check that what came back is the identity's, and the IMDS-shaped answer — with one audit
 * record and one decision metric per request.
 * @module
 */
import type { Logger } from 'pino';
import type { AzureIdentity } from '../../api/index.ts';
import type { AccessToken } from '../../azure/access-token.ts';
import { TokenRequestError } from '../../azure/token-errors.ts';
import type { Clock } from '../../lib/clock.ts';
import { describeError, findInChain, RetryAfterError } from '../../lib/errors.ts';
import type { IdentityFinder } from '../identity/identity-finder.ts';
import type { NodePod } from '../identity/pods.ts';
import type { IdentitySelector } from '../identity/select-identity.ts';
import type { NmiMetrics } from '../metrics.ts';
import { imdsUpstream } from '../tokens/imds-source.ts';
import type { ServedToken, TokenService } from '../tokens/token-service.ts';
import { forbidden, identityNotFound, identityRefused, serviceUnavailable, tokenRequestFailed, tooManyRequests, type ImdsError } from './imds-errors.ts';
import { errorOutcome, serialisedAnswer, type Outcome } from './outcome.ts';
import { imdsTokenAnswer } from './token-response.ts';

export interface TokenIssuerOptions {
  readonly finder: IdentityFinder;
  readonly tokens: TokenService;
  readonly metrics: Pick<NmiMetrics, 'observeDecision'>;
  readonly logger: Logger;
  readonly clock: Clock;
  /** `--set-retry-after-header`: 503 + Retry-After instead of 404 while the identity is not available. */
  readonly retryAfterSeconds: number | undefined;
}

/** The answer, and for a token the first one and the identity's client ID (what /host/token sends). */
export interface Issued {
  readonly outcome: Outcome;
  readonly first?: AccessToken | undefined;
  readonly clientId?: string | undefined;
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

/** A token-path failure that is an answer, not a bug. */
class Refusal extends Error {
  readonly answer: ImdsError;
  constructor(answer: ImdsError) {
    super(answer.description);
    this.answer = answer;
  }
}

/** Resources per pod and identity whose cache-hit audit logger is kept (a pod could name endless ones). */
const HIT_LOGGERS_PER_POD = 16;

/** A cached token's audit logger: the record, serialised once into a pino child's bindings. */
interface HitLogger {
  readonly clientId: string | undefined;
  readonly logger: Logger;
}

const identityName = (identity: AzureIdentity): string => `${identity.metadata.namespace ?? ''}/${identity.metadata.name ?? ''}`;

export class TokenIssuer {
  private readonly options: TokenIssuerOptions;
  /**
   * Audit loggers of cache hits by identity, pod and resource. Every hit of a pod on its identity's
   * cached token has the same record; serialising it for each request was a tenth of NMI's CPU per
   * token. Weak: they go with the view's identity and pod objects, which change when those change.
   */
  private readonly hitLoggers = new WeakMap<AzureIdentity, WeakMap<NodePod, Map<string, HitLogger>>>();

  constructor(options: TokenIssuerOptions) {
    this.options = options;
  }

  /** Decides and fetches; every outcome is audited. */
  async issue(pod: NodePod, selector: IdentitySelector | undefined, resource: string, signal: AbortSignal | undefined): Promise<Issued> {
    const { finder, tokens, metrics, logger } = this.options;
    const audit: Audit = { podUid: pod.uid, namespace: pod.namespace, pod: pod.name, resource, decision: 'refused', status: 0 };
    try {
      // Synchronous first: a known pod's cached token costs no promise on the way.
      const decision = finder.decideNow(pod, selector) ?? (await finder.decide(pod, selector, signal));
      let served: ServedToken[];
      let clientId: string | undefined;
      switch (decision.kind) {
        case 'refuse':
          throw new Refusal(identityRefused(decision, this.options.retryAfterSeconds));
        case 'node':
          // An exception or MIC pod: the node's identity, or the one its request named.
          audit.identity = `node (${decision.reason})`;
          served = [await tokens.serve(imdsUpstream(selector), resource, signal)];
          break;
        case 'by-object-id': {
          audit.identity = `object_id ${decision.objectId}`;
          const token = await tokens.serve(imdsUpstream({ kind: 'object_id', value: decision.objectId }), resource, signal);
          const match = decision.candidates.find((candidate) => sameId(candidate.spec.clientID, token.token.clientId));
          if (match === undefined) {
            throw new Refusal(identityNotFound(`no azure identity found for request object_id ${decision.objectId}: not an identity of pod ${pod.namespace}/${pod.name}`, this.options.retryAfterSeconds));
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
          served = tokens.cachedForIdentity(identity, resource) ?? (await tokens.forIdentity(identity, resource, signal));
          checkClientId(identity, served);
          break;
        }
      }
      const issued = served.map((entry) => entry.token);
      const first = issued[0];
      audit.decision = 'issued';
      audit.status = 200;
      audit.cacheHit = served.every((entry) => entry.cacheHit);
      audit.clientId = clientId ?? first?.clientId;
      metrics.observeDecision('issued', audit.cacheHit);
      if (audit.cacheHit && decision.kind === 'identity') this.hitLogger(decision.identity, pod, audit).info('token issued');
      else logger.info({ audit }, 'token issued');
      const { body, json } = imdsTokenAnswer(issued, resource, this.options.clock.now(), clientId);
      return { outcome: serialisedAnswer(body, json), first, clientId };
    } catch (error) {
      const refusal = error instanceof Refusal ? error.answer : this.failure(error, audit, signal?.aborted === true);
      audit.decision = error instanceof Refusal ? 'refused' : 'error';
      audit.status = refusal.status;
      audit.reason = refusal.description;
      metrics.observeDecision(audit.decision, false);
      logger.info({ audit }, error instanceof Refusal ? 'token refused' : 'token request failed');
      return { outcome: errorOutcome(refusal) };
    }
  }

  /** The logger whose every record is `audit` (a cache hit of `identity` for `pod`), made on first use. */
  private hitLogger(identity: AzureIdentity, pod: NodePod, audit: Audit): Logger {
    let byPod = this.hitLoggers.get(identity);
    if (byPod === undefined) {
      byPod = new WeakMap();
      this.hitLoggers.set(identity, byPod);
    }
    let byResource = byPod.get(pod);
    if (byResource === undefined) {
      byResource = new Map();
      byPod.set(pod, byResource);
    }
    const known = byResource.get(audit.resource);
    if (known !== undefined && known.clientId === audit.clientId) return known.logger;
    const logger = this.options.logger.child({ audit: { ...audit } });
    if (known !== undefined || byResource.size < HIT_LOGGERS_PER_POD) byResource.set(audit.resource, { clientId: audit.clientId, logger });
    return logger;
  }

  /** Maps a token failure to an answer (upstream: 403 when the endpoint refused, 503 otherwise). */
  private failure(error: unknown, audit: Audit, callerGone: boolean): ImdsError {
    if (error instanceof TokenRequestError) return tokenRequestFailed(error);
    const retryAfterMs = findInChain(error, RetryAfterError)?.retryAfterMs;
    // Our own IMDS limiter is full: the caller should come back shortly, as IMDS would say.
    if (retryAfterMs !== undefined) return tooManyRequests(describeError(error), retryAfterMs);
    // A caller that hung up mid-fetch is no NMI error (the fuzzer's pipelined requests did it); the audit record has it.
    if (!callerGone) this.options.logger.error({ err: describeError(error), pod: `${audit.namespace}/${audit.pod}`, identity: audit.identity }, 'token request failed');
    return serviceUnavailable(describeError(error));
  }
}

/**
 * Never hands out a token of another identity. Only IMDS resolves the identity itself (a service
 * principal's token carries the client ID it was asked for), so only its answers can differ.
 */
function checkClientId(identity: AzureIdentity, served: readonly ServedToken[]): void {
  const clientId = identity.spec.clientID ?? '';
  if (clientId === '') return;
  for (let index = 0; index < served.length; index++) {
    const token = served[index]?.token;
    if (token?.clientId !== undefined && !sameId(token.clientId, clientId)) {
      throw new Refusal(forbidden(`IMDS returned a token for another client ID than identity ${identityName(identity)}'s`));
    }
  }
}

function sameId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a !== '' && a.toLowerCase() === b.toLowerCase();
}
