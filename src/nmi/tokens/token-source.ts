/**
 * The one shape of NMI's token path: a {@link TokenSource} gives a token for a {@link TokenKey} — a
 * typed {@link Upstream} (which identity, asked where) and a resource. The upstream clients (IMDS in
 * `imds-source.ts`, Entra ID in `service-principal-source.ts`) implement it, and so does every layer
 * wrapped around them, the way eks-pod-identity-agent composes its credential retrievers. Behind the
 * {@link TokenService} the handler asks (the front, not a source itself):
 *
 *   CachingTokenSource → UpstreamRouter → (LimitedTokenSource, IMDS only) → MeasuredTokenSource → source
 *
 * tokens/build.ts composes the chain; which layer wraps which is wiring, not code in the layers.
 *
 * A new kind of identity is one source file (its upstream type, its {@link UpstreamKind} and its
 * source) plus one `route(...)` line in tokens/build.ts; its `spec.type` number comes from src/api.
 * @module
 */
import type { AzureIdentity, IdentityType } from '../../api/index.ts';
import type { AccessToken } from '../../azure/access-token.ts';

/**
 * Which identity a token is for and where it is asked. `kind` picks the source; `id` is canonical, so
 * that two requests with the same id share a token and nothing else does (e.g. `msi:client_id:<id>`,
 * `node:system`, `sp:<ns>/<name>@<tenant>`). Each source extends it with what its call needs.
 */
export interface Upstream {
  readonly kind: string;
  readonly id: string;
}

/** What a token is for: the upstream identity and the resource, kept exactly as requested. */
export interface TokenKey<U extends Upstream = Upstream> {
  readonly upstream: U;
  /** Exactly as requested (IMDS treats `https://x` and `https://x/` as different audiences). */
  readonly resource: string;
}

export interface TokenSource<U extends Upstream = Upstream> {
  /** Resolves to a token for `key`; rejects with the signal's reason when `signal` aborts first. */
  getToken(key: TokenKey<U>, signal?: AbortSignal): Promise<AccessToken>;
}

/** How AzureIdentities of some `spec.type`s are served by one kind of upstream. Pure. */
export interface UpstreamKind<U extends Upstream = Upstream> {
  /** The `kind` of the upstreams it makes. */
  readonly kind: U['kind'];
  readonly identityTypes: readonly IdentityType[];
  /** The upstreams asked for one answer to a pod using `identity`, primary first. */
  upstreamsOf(identity: AzureIdentity): readonly U[];
}
