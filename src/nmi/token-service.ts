/**
 * Tokens for a decided identity: the upstream call for each kind (the node's IMDS for managed
 * identities and exception pods, Entra ID for service principals), behind one {@link CachingTokenSource}
 * keyed by (identity, resource) and, for IMDS, behind the node-wide {@link UpstreamLimiter}.
 *
 * Cache identity keys are canonical strings that say exactly what was asked upstream, so two pods
 * with the same identity share a token and nothing else does: `msi:client_id:<id>`,
 * `msi:resource_id:<id>`, `msi:object_id:<id>`, `node:system`, `sp:<ns>/<name>@<tenant>`.
 * What a key means is kept in a bounded registry so that the inner source can make the call.
 * @module
 */
import type { AzureIdentity } from '../api/index.ts';
import type { ImdsIdentitySelector } from '../azure/imds-token-client.ts';
import type { AccessToken, TokenSource } from '../azure/token-source.ts';
import { CachingTokenSource, type CachingTokenSourceOpts } from './token-cache.ts';
import type { UpstreamLimiter } from './limits.ts';
import type { IdentityRef } from './node-view.ts';

/** The node's IMDS (src/azure/imds-token-client.ts). */
export interface NodeImds {
  getToken(request: { readonly resource: string; readonly selector?: ImdsIdentitySelector | undefined }, signal?: AbortSignal): Promise<AccessToken>;
}

/** Entra ID for service-principal identities (types 1 and 2). */
export interface ServicePrincipalTokens {
  getToken(identity: AzureIdentity, tenantId: string, resource: string, signal?: AbortSignal): Promise<AccessToken>;
}

type Upstream =
  | { readonly kind: 'imds'; readonly selector: ImdsIdentitySelector | undefined }
  | { readonly kind: 'sp'; readonly identity: AzureIdentity; readonly tenantId: string };

/** A served token and whether it came from the cache. */
export interface ServedToken {
  readonly token: AccessToken;
  readonly cacheHit: boolean;
}

export interface TokenServiceOptions {
  readonly imds: NodeImds;
  readonly servicePrincipals: ServicePrincipalTokens;
  readonly imdsLimiter: UpstreamLimiter;
  readonly cache?: CachingTokenSourceOpts;
}

const REGISTRY_FACTOR = 4;

export function imdsKey(selector: ImdsIdentitySelector | undefined): string {
  return selector === undefined ? 'node:system' : `msi:${selector.kind}:${selector.value.toLowerCase()}`;
}

export function servicePrincipalKey(identity: AzureIdentity, tenantId: string): string {
  return `sp:${identity.metadata.namespace ?? ''}/${identity.metadata.name ?? ''}@${tenantId.toLowerCase()}`;
}

export class TokenService {
  private readonly cache: CachingTokenSource;
  /** Key → how to fetch it; LRU-bounded (keys come from requests, e.g. arbitrary object IDs). */
  private readonly registry = new Map<string, Upstream>();
  private readonly registryLimit: number;
  /** Cache keys used per identity `namespace/name` and per client ID, for invalidation. */
  private readonly keysByIdentity = new Map<string, Set<string>>();

  constructor(options: TokenServiceOptions) {
    const inner: TokenSource = {
      getToken: (key, signal) => {
        const upstream = this.registry.get(key.identity);
        if (upstream === undefined) return Promise.reject(new Error(`no upstream registered for ${key.identity}`));
        if (upstream.kind === 'imds') return options.imdsLimiter.run(() => options.imds.getToken({ resource: key.resource, selector: upstream.selector }, signal), signal);
        return options.servicePrincipals.getToken(upstream.identity, upstream.tenantId, key.resource, signal);
      },
    };
    this.cache = new CachingTokenSource(inner, options.cache);
    this.registryLimit = (options.cache?.maxEntries ?? 1_000) * REGISTRY_FACTOR;
  }

  /** A token from the node's IMDS: a type-0 identity by client/resource/object ID, or an exception pod's request. */
  fromImds(selector: ImdsIdentitySelector | undefined, resource: string, signal?: AbortSignal, owner?: IdentityRef): Promise<ServedToken> {
    const key = imdsKey(selector);
    return this.serve(key, { kind: 'imds', selector }, resource, signal, owner);
  }

  /** Tokens for a service principal: the primary tenant first, then each auxiliary tenant (type 1). */
  async fromServicePrincipal(identity: AzureIdentity, resource: string, signal?: AbortSignal): Promise<ServedToken[]> {
    const primary = identity.spec.tenantID ?? '';
    const auxiliary = identity.spec.type === 1 ? (identity.spec.auxiliaryTenantIDs ?? []) : [];
    const owner: IdentityRef = { namespace: identity.metadata.namespace ?? '', name: identity.metadata.name ?? '', clientId: identity.spec.clientID };
    return Promise.all(
      [primary, ...auxiliary].map((tenantId) => this.serve(servicePrincipalKey(identity, tenantId), { kind: 'sp', identity, tenantId }, resource, signal, owner)),
    );
  }

  /** Drops every cached token of an identity (it, its binding or its AAI changed). */
  invalidate(identity: IdentityRef): void {
    for (const owner of ownerKeys(identity)) {
      const keys = this.keysByIdentity.get(owner);
      if (keys === undefined) continue;
      this.keysByIdentity.delete(owner);
      for (const key of keys) this.cache.invalidate(key);
    }
  }

  stats(): ReturnType<CachingTokenSource['stats']> {
    return this.cache.stats();
  }

  /** Whether `key` is already registered under `owner` (so invalidating the owner drops it). */
  private owned(key: string, owner: IdentityRef): boolean {
    return this.keysByIdentity.get(`ref:${owner.namespace}/${owner.name}`)?.has(key) === true;
  }

  private async serve(key: string, upstream: Upstream, resource: string, signal: AbortSignal | undefined, owner: IdentityRef | undefined): Promise<ServedToken> {
    this.register(key, upstream, owner);
    const before = this.cache.hitCount;
    const pending = this.cache.getToken({ identity: key, resource }, signal);
    // A hit is counted synchronously inside getToken: comparing before awaiting tells which it was.
    const cacheHit = this.cache.hitCount > before;
    return { token: await pending, cacheHit };
  }

  private register(key: string, upstream: Upstream, owner: IdentityRef | undefined): void {
    const known = this.registry.get(key);
    // The hot path (a cached token asked for again) changes nothing here.
    if (known !== undefined && sameUpstream(known, upstream) && (owner === undefined || this.owned(key, owner))) return;
    this.registry.delete(key);
    this.registry.set(key, upstream);
    while (this.registry.size > this.registryLimit) {
      const oldest = this.registry.keys().next();
      if (oldest.done === true) break;
      this.registry.delete(oldest.value);
    }
    if (owner === undefined) return;
    for (const ownerKey of ownerKeys(owner)) {
      let keys = this.keysByIdentity.get(ownerKey);
      if (keys === undefined) {
        keys = new Set();
        this.keysByIdentity.set(ownerKey, keys);
      }
      keys.add(key);
    }
  }
}

function sameUpstream(a: Upstream, b: Upstream): boolean {
  if (a.kind === 'imds' && b.kind === 'imds') return a.selector?.kind === b.selector?.kind && a.selector?.value === b.selector?.value;
  if (a.kind === 'sp' && b.kind === 'sp') return a.identity === b.identity && a.tenantId === b.tenantId;
  return false;
}

function ownerKeys(identity: IdentityRef): string[] {
  const keys = [`ref:${identity.namespace}/${identity.name}`];
  if (identity.clientId !== undefined && identity.clientId !== '') keys.push(`client:${identity.clientId.toLowerCase()}`);
  return keys;
}
