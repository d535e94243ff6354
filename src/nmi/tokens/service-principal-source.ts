/**
 * Tokens for service-principal identities (types 1 and 2) as a {@link TokenSource}: the credential
 * comes from the Secret the AzureIdentity references (`clientPassword`), read through
 * {@link SecretWatch}; the call goes to Entra ID through src/azure's client, at the identity's
 * `adEndpoint` or the configured cloud's authority. A type-1 identity asks once per tenant: its
 * `tenantID` first, then each of its `auxiliaryTenantIDs`. Upstream ids are `sp:<ns>/<name>@<tenant>`.
 *
 * `@azure/identity` and node-forge (PKCS#12) are loaded on the first service-principal token only: a
 * node whose pods use managed identities never pays their ~45 MB.
 * @module
 */
import { IdentityType, type AzureIdentity } from '../../api/index.ts';
import type { AccessToken } from '../../azure/access-token.ts';
import type { ResolvedCloud } from '../../azure/clouds.ts';
import type { ServicePrincipalCredential, ServicePrincipalTokenClient } from '../../azure/service-principal-token-client.ts';
import type { IdentityRef } from '../identity/node-view.ts';
import { SecretReadError, type SecretWatch } from './secret-watch.ts';
import type { TokenKey, TokenSource, Upstream, UpstreamKind } from './token-source.ts';

export interface ServicePrincipalUpstream extends Upstream {
  readonly kind: 'service-principal';
  readonly identity: AzureIdentity;
  readonly tenantId: string;
}

export function servicePrincipalUpstream(identity: AzureIdentity, tenantId: string): ServicePrincipalUpstream {
  const id = `sp:${identity.metadata.namespace ?? ''}/${identity.metadata.name ?? ''}@${tenantId.toLowerCase()}`;
  return { kind: 'service-principal', id, identity, tenantId };
}

/** Types 1 and 2: one upstream per tenant, the primary first (auxiliary tenants: type 1 only). */
export const SERVICE_PRINCIPAL_IDENTITIES: UpstreamKind<ServicePrincipalUpstream> = {
  kind: 'service-principal',
  identityTypes: [IdentityType.ServicePrincipal, IdentityType.ServicePrincipalCertificate],
  upstreamsOf(identity) {
    const primary = identity.spec.tenantID ?? '';
    const auxiliary = identity.spec.type === IdentityType.ServicePrincipal ? (identity.spec.auxiliaryTenantIDs ?? []) : [];
    return [primary, ...auxiliary].map((tenantId) => servicePrincipalUpstream(identity, tenantId));
  },
};

export interface ServicePrincipalSourceOptions {
  readonly cloud: Pick<ResolvedCloud, 'authorityHost' | 'knownAuthorityHost'>;
  readonly secrets: SecretWatch;
  /** Called when a Secret cannot be read (upstream's `get_secret` error metric). */
  readonly onSecretError?: () => void;
  /** NMI's User-Agent (with `--custom-user-agent`) for Entra ID requests. */
  readonly userAgent?: string;
}

export class ServicePrincipalSource implements TokenSource<ServicePrincipalUpstream> {
  private readonly options: ServicePrincipalSourceOptions;
  private client: Promise<ServicePrincipalTokenClient> | undefined;
  /** Identities by the Secret they read, to drop their tokens when it changes. */
  private readonly users = new Map<string, Map<string, IdentityRef>>();

  constructor(options: ServicePrincipalSourceOptions) {
    this.options = options;
  }

  async getToken(key: TokenKey<ServicePrincipalUpstream>, signal?: AbortSignal): Promise<AccessToken> {
    const { identity, tenantId } = key.upstream;
    const reference = identity.spec.clientPassword;
    const name = reference?.name ?? '';
    // Old objects leave the namespace empty: the identity's own namespace is the only sensible one.
    const namespace = reference?.namespace !== undefined && reference.namespace !== '' ? reference.namespace : (identity.metadata.namespace ?? '');
    const who = `${identity.metadata.namespace ?? ''}/${identity.metadata.name ?? ''}`;
    if (name === '') throw new SecretReadError('PI_SECRET', `identity ${who} has no clientPassword secret reference`);
    this.remember(`${namespace}/${name}`, { namespace: identity.metadata.namespace ?? '', name: identity.metadata.name ?? '', clientId: identity.spec.clientID });
    let data;
    try {
      data = await this.options.secrets.read(namespace, name, signal);
    } catch (error) {
      this.options.onSecretError?.();
      throw error;
    }
    const source = { namespace, name };
    const { readClientCertificate, readClientSecret } = await import('../../azure/service-principal.ts');
    const credential: ServicePrincipalCredential =
      identity.spec.type === IdentityType.ServicePrincipalCertificate
        ? { kind: 'certificate', certificate: readClientCertificate(data, source) }
        : { kind: 'secret', clientSecret: readClientSecret(data, source) };
    const client = await this.loadClient();
    return client.getToken(
      {
        tenantId,
        clientId: identity.spec.clientID ?? '',
        credential,
        resource: key.resource,
        adEndpoint: identity.spec.adEndpoint === '' ? undefined : identity.spec.adEndpoint,
      },
      signal,
    );
  }

  /** The identities that read Secret `namespace/name` (forgotten: they re-register on their next token). */
  takeUsersOf(namespace: string, name: string): IdentityRef[] {
    const key = `${namespace}/${name}`;
    const users = [...(this.users.get(key)?.values() ?? [])];
    this.users.delete(key);
    return users;
  }

  private loadClient(): Promise<ServicePrincipalTokenClient> {
    this.client ??= import('../../azure/service-principal-token-client.ts').then(
      ({ ServicePrincipalTokenClient: Client }) => new Client({ cloud: this.options.cloud, userAgent: this.options.userAgent }),
    );
    return this.client;
  }

  private remember(secret: string, identity: IdentityRef): void {
    let users = this.users.get(secret);
    if (users === undefined) {
      users = new Map();
      this.users.set(secret, users);
    }
    users.set(`${identity.namespace}/${identity.name}`, identity);
  }
}
