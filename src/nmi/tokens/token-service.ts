/**
 * The front of the token path, what the HTTP handler asks: a token from an upstream and whether the
 * cache answered it, the tokens of an AzureIdentity (one per upstream its kind asks, from
 * {@link UpstreamRouter.upstreamsOf}), and dropping an identity's tokens when it changes.
 *
 * Tokens are cached by upstream id (see token-source.ts), so two pods with the same identity share a
 * token and nothing else does. Which ids belong to which identity (by namespace/name and by client ID)
 * is recorded here for invalidation; only AzureIdentities own ids, never what a request names alone
 * (the node's identity, an object ID), so that record grows with the identities, not the requests.
 * An identity's upstreams are worked out once per identity object (a WeakMap: gone with the object).
 * @module
 */
import type { AzureIdentity } from '../../api/index.ts';
import type { AccessToken } from '../../azure/access-token.ts';
import type { IdentityRef } from '../identity/node-view.ts';
import type { CachingTokenSource, TokenCacheStats } from './token-cache.ts';
import type { Upstream } from './token-source.ts';
import type { UpstreamRouter } from './upstream-router.ts';

/** A served token and whether it came from the cache. */
export interface ServedToken {
  readonly token: AccessToken;
  readonly cacheHit: boolean;
}

export interface TokenServiceOptions {
  /** The decorated chain's top: the cache over the router. */
  readonly cache: CachingTokenSource;
  /** Which upstreams serve an AzureIdentity. */
  readonly upstreams: Pick<UpstreamRouter, 'upstreamsOf'>;
}

/** Whose an upstream id is, for invalidation: the identity, and its `ref:<namespace>/<name>` key. */
interface Ownership {
  readonly owner: IdentityRef;
  readonly ref: string;
}

/** What serving an AzureIdentity takes, worked out once per identity object. */
interface IdentityPlan extends Ownership {
  readonly upstreams: readonly Upstream[];
}

export class TokenService {
  private readonly cache: CachingTokenSource;
  private readonly upstreams: Pick<UpstreamRouter, 'upstreamsOf'>;
  /** Upstream ids used per identity `ref:namespace/name` and per `client:<client ID>`, for invalidation. */
  private readonly idsByOwner = new Map<string, Set<string>>();
  /**
   * Plans by identity object. The view's objects are replaced on every change, never changed in place,
   * so a plan stays right for as long as its object lives; a cached token asked for again then
   * allocates nothing here.
   */
  private readonly plans = new WeakMap<AzureIdentity, IdentityPlan>();

  constructor(options: TokenServiceOptions) {
    this.cache = options.cache;
    this.upstreams = options.upstreams;
  }

  /** The tokens for a pod using `identity`: one per upstream its kind asks (a service principal: per tenant), primary first. */
  async forIdentity(identity: AzureIdentity, resource: string, signal?: AbortSignal): Promise<ServedToken[]> {
    const plan = this.planOf(identity);
    const { upstreams } = plan;
    const only = upstreams.length === 1 ? upstreams[0] : undefined;
    if (only !== undefined) return [await this.fetch(only, resource, signal, plan)];
    return Promise.all(upstreams.map((upstream) => this.fetch(upstream, resource, signal, plan)));
  }

  /**
   * The identity's token if it has one upstream and the cache holds it (the common case: a pod asking
   * again), else undefined: {@link forIdentity} without a promise.
   */
  cachedForIdentity(identity: AzureIdentity, resource: string): ServedToken[] | undefined {
    const plan = this.planOf(identity);
    const only = plan.upstreams.length === 1 ? plan.upstreams[0] : undefined;
    if (only === undefined) return undefined;
    const token = this.cache.peek({ upstream: only, resource });
    if (token === undefined) return undefined;
    this.own(only.id, plan);
    return [{ token, cacheHit: true }];
  }

  /** A token from `upstream`; `owner` is the identity it belongs to, if any (invalidating the owner drops it). */
  serve(upstream: Upstream, resource: string, signal?: AbortSignal, owner?: IdentityRef): Promise<ServedToken> {
    return this.fetch(upstream, resource, signal, owner === undefined ? undefined : { owner, ref: refKey(owner) });
  }

  /** Drops every cached token of an identity (it, its binding, its AAI or its Secret changed). */
  invalidate(identity: IdentityRef): void {
    for (const owner of ownerKeys(identity)) {
      const ids = this.idsByOwner.get(owner);
      if (ids === undefined) continue;
      this.idsByOwner.delete(owner);
      for (const id of ids) this.cache.invalidate(id);
    }
  }

  stats(): TokenCacheStats {
    return this.cache.stats();
  }

  private async fetch(upstream: Upstream, resource: string, signal: AbortSignal | undefined, ownership: Ownership | undefined): Promise<ServedToken> {
    if (ownership !== undefined) this.own(upstream.id, ownership);
    const before = this.cache.hitCount;
    const pending = this.cache.getToken({ upstream, resource }, signal);
    // A hit is counted synchronously inside getToken: comparing before awaiting tells which it was.
    const cacheHit = this.cache.hitCount > before;
    return { token: await pending, cacheHit };
  }

  private planOf(identity: AzureIdentity): IdentityPlan {
    let plan = this.plans.get(identity);
    if (plan === undefined) {
      const owner: IdentityRef = { namespace: identity.metadata.namespace ?? '', name: identity.metadata.name ?? '', clientId: identity.spec.clientID };
      plan = { owner, ref: refKey(owner), upstreams: this.upstreams.upstreamsOf(identity) };
      this.plans.set(identity, plan);
    }
    return plan;
  }

  private own(id: string, { owner, ref }: Ownership): void {
    // The hot path (a cached token asked for again) changes nothing here.
    if (this.idsByOwner.get(ref)?.has(id) === true) return;
    for (const ownerKey of ownerKeys(owner)) {
      let ids = this.idsByOwner.get(ownerKey);
      if (ids === undefined) {
        ids = new Set();
        this.idsByOwner.set(ownerKey, ids);
      }
      ids.add(id);
    }
  }
}

function refKey(identity: IdentityRef): string {
  return `ref:${identity.namespace}/${identity.name}`;
}

function ownerKeys(identity: IdentityRef): string[] {
  const keys = [refKey(identity)];
  if (identity.clientId !== undefined && identity.clientId !== '') keys.push(`client:${identity.clientId.toLowerCase()}`);
  return keys;
}
