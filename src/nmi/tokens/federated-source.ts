/**
 * Tokens for federated identities (type 3) as a {@link TokenSource}: NMI presents its own projected
 * service-account token (`--federated-token-file`, audience `api://AzureADTokenExchange`) to Entra ID
 * as a client assertion for the identity's client ID (src/azure/federated-token-client.ts), at the
 * identity's `adEndpoint` or the configured cloud's authority. Nothing is assigned to the node and
 * IMDS is never asked: every identity whose federated credential names NMI's service account is
 * reachable this way (docs/nmi.md, Federated identities).
 *
 * Upstream ids are `fed:<client ID>@<tenant>`, with `@<authority host>` after them when the identity
 * sets `adEndpoint` (lower-cased, trailing slashes dropped): two AzureIdentities of one Azure identity
 * share its tokens, and nothing else does.
 *
 * `@azure/identity` is loaded on the first federated token only, as for service principals.
 * @module
 */
import { IdentityType, type AzureIdentity } from '../../api/index.ts';
import type { AccessToken } from '../../azure/access-token.ts';
import type { ResolvedCloud } from '../../azure/clouds.ts';
import type { FederatedTokenClient } from '../../azure/federated-token-client.ts';
import type { TokenKey, TokenSource, Upstream, UpstreamKind } from './token-source.ts';

export interface FederatedUpstream extends Upstream {
  readonly kind: 'federated';
  readonly clientId: string;
  readonly tenantId: string;
  /** The identity's `adEndpoint`, when it sets one. */
  readonly adEndpoint: string | undefined;
}

/** The authority part of an id: compared as hosts are (case-insensitive, no trailing slash). */
function authorityKey(adEndpoint: string): string {
  return adEndpoint.trim().toLowerCase().replace(/\/+$/, '');
}

export function federatedUpstream(identity: AzureIdentity): FederatedUpstream {
  const clientId = identity.spec.clientID ?? '';
  const tenantId = identity.spec.tenantID ?? '';
  const adEndpoint = identity.spec.adEndpoint === undefined || identity.spec.adEndpoint.trim() === '' ? undefined : identity.spec.adEndpoint;
  const id = `fed:${clientId.toLowerCase()}@${tenantId.toLowerCase()}${adEndpoint === undefined ? '' : `@${authorityKey(adEndpoint)}`}`;
  return { kind: 'federated', id, clientId, tenantId, adEndpoint };
}

/** Type 3: one upstream, the identity's client ID in its tenant. */
export const FEDERATED_IDENTITIES: UpstreamKind<FederatedUpstream> = {
  kind: 'federated',
  identityTypes: [IdentityType.FederatedIdentity],
  upstreamsOf: (identity) => [federatedUpstream(identity)],
};

export interface FederatedSourceOptions {
  readonly cloud: Pick<ResolvedCloud, 'authorityHost' | 'knownAuthorityHost'>;
  /** `--federated-token-file`: NMI's projected service-account token, read for every exchange. */
  readonly tokenFile: string;
  /** NMI's User-Agent (with `--custom-user-agent`) for Entra ID requests. */
  readonly userAgent?: string;
}

export class FederatedSource implements TokenSource<FederatedUpstream> {
  private readonly options: FederatedSourceOptions;
  private client: Promise<FederatedTokenClient> | undefined;

  constructor(options: FederatedSourceOptions) {
    this.options = options;
  }

  async getToken(key: TokenKey<FederatedUpstream>, signal?: AbortSignal): Promise<AccessToken> {
    const { clientId, tenantId, adEndpoint } = key.upstream;
    const client = await this.loadClient();
    return client.getToken({ tenantId, clientId, resource: key.resource, adEndpoint }, signal);
  }

  /** Closes the client's connections, if it was ever loaded. */
  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await (await client).close();
  }

  private loadClient(): Promise<FederatedTokenClient> {
    this.client ??= import('../../azure/federated-token-client.ts').then(
      ({ FederatedTokenClient: Client }) => new Client({ cloud: this.options.cloud, tokenFile: this.options.tokenFile, userAgent: this.options.userAgent }),
    );
    return this.client;
  }
}
