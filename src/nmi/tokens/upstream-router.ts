/**
 * {@link UpstreamRouter}: the {@link TokenSource} under the cache that hands each key to the source of
 * its upstream's kind, and tells which upstreams serve an AzureIdentity (by its `spec.type`). Built
 * from one {@link route} per kind of upstream: that list is the only place that names them all.
 * @module
 */
import type { AzureIdentity, IdentityType } from '../../api/index.ts';
import type { AccessToken } from '../../azure/access-token.ts';
import type { TokenKey, TokenSource, Upstream, UpstreamKind } from './token-source.ts';

/** A kind of upstream and the source (decorated as wiring decides) that serves its keys. */
export interface Route {
  readonly kind: UpstreamKind;
  readonly source: TokenSource;
}

/** Pairs a kind with its source; the type parameter makes sure they speak of the same upstream. */
export function route<U extends Upstream>(kind: UpstreamKind<U>, source: TokenSource<U>): Route {
  return { kind, source };
}

export class UpstreamRouter implements TokenSource {
  /** Sources by upstream kind; a source only ever gets keys of its own kind. */
  private readonly sources = new Map<string, TokenSource>();
  private readonly kindsByIdentityType = new Map<IdentityType, UpstreamKind>();

  constructor(routes: readonly Route[]) {
    for (const { kind, source } of routes) {
      if (this.sources.has(kind.kind)) throw new Error(`two token sources for upstream kind ${kind.kind}`);
      this.sources.set(kind.kind, source);
      for (const type of kind.identityTypes) {
        if (this.kindsByIdentityType.has(type)) throw new Error(`two kinds of upstream serve AzureIdentity type ${String(type)}`);
        this.kindsByIdentityType.set(type, kind);
      }
    }
  }

  getToken(key: TokenKey, signal?: AbortSignal): Promise<AccessToken> {
    const source = this.sources.get(key.upstream.kind);
    if (source === undefined) return Promise.reject(new Error(`no token source for upstream kind ${key.upstream.kind}`));
    return source.getToken(key, signal);
  }

  /** The upstreams asked for one answer to a pod using `identity`, primary first. Throws for a type no route serves. */
  upstreamsOf(identity: AzureIdentity): readonly Upstream[] {
    const kind = this.kindsByIdentityType.get(identity.spec.type);
    if (kind === undefined) throw new Error(`no token source serves AzureIdentity type ${String(identity.spec.type)}`);
    return kind.upstreamsOf(identity);
  }
}
