/**
 * Tokens for service-principal identities (types 1 and 2): the credential comes from the Secret the
 * AzureIdentity references (`clientPassword`), read through {@link SecretWatch}; the call goes to Entra
 * ID through src/azure's client, at the identity's `adEndpoint` or the configured cloud's authority.
 * `@azure/identity` and node-forge (PKCS#12) are loaded on the first service-principal token only: a
 * node whose pods use managed identities never pays their ~45 MB.
 * @module
 */
import type { AzureIdentity } from '../api/index.ts';
import type { ResolvedCloud } from '../azure/clouds.ts';
import type { ServicePrincipalCredential, ServicePrincipalTokenClient } from '../azure/service-principal-token-client.ts';
import type { AccessToken } from '../azure/token-source.ts';
import type { IdentityRef } from './node-view.ts';
import type { ServicePrincipalTokens } from './token-service.ts';
import type { SecretWatch } from './secret-watch.ts';
import { SecretReadError } from './secret-watch.ts';

export class ServicePrincipalSource implements ServicePrincipalTokens {
  private readonly cloud: Pick<ResolvedCloud, 'authorityHost' | 'knownAuthorityHost'>;
  private client: Promise<ServicePrincipalTokenClient> | undefined;
  private readonly secrets: SecretWatch;
  private readonly onSecretError: () => void;
  private readonly userAgent: string | undefined;
  /** Identities by the Secret they read, to drop their tokens when it changes. */
  private readonly users = new Map<string, Map<string, IdentityRef>>();

  constructor(
    cloud: Pick<ResolvedCloud, 'authorityHost' | 'knownAuthorityHost'>,
    secrets: SecretWatch,
    onSecretError: () => void = () => undefined,
    /** NMI's User-Agent (with `--custom-user-agent`) for Entra ID requests. */
    userAgent?: string,
  ) {
    this.cloud = cloud;
    this.secrets = secrets;
    this.onSecretError = onSecretError;
    this.userAgent = userAgent;
  }

  async getToken(identity: AzureIdentity, tenantId: string, resource: string, signal?: AbortSignal): Promise<AccessToken> {
    const reference = identity.spec.clientPassword;
    const name = reference?.name ?? '';
    // Old objects leave the namespace empty: the identity's own namespace is the only sensible one.
    const namespace = reference?.namespace !== undefined && reference.namespace !== '' ? reference.namespace : (identity.metadata.namespace ?? '');
    const who = `${identity.metadata.namespace ?? ''}/${identity.metadata.name ?? ''}`;
    if (name === '') throw new SecretReadError('PI_SECRET', `identity ${who} has no clientPassword secret reference`);
    this.remember(`${namespace}/${name}`, { namespace: identity.metadata.namespace ?? '', name: identity.metadata.name ?? '', clientId: identity.spec.clientID });
    let data;
    try {
      data = await this.secrets.read(namespace, name, signal);
    } catch (error) {
      this.onSecretError();
      throw error;
    }
    const source = { namespace, name };
    const { readClientCertificate, readClientSecret } = await import('../azure/service-principal.ts');
    const credential: ServicePrincipalCredential =
      identity.spec.type === 2 ? { kind: 'certificate', certificate: readClientCertificate(data, source) } : { kind: 'secret', clientSecret: readClientSecret(data, source) };
    const client = await this.loadClient();
    return client.getToken(
      {
        tenantId,
        clientId: identity.spec.clientID ?? '',
        credential,
        resource,
        adEndpoint: identity.spec.adEndpoint === '' ? undefined : identity.spec.adEndpoint,
      },
      signal,
    );
  }

  private loadClient(): Promise<ServicePrincipalTokenClient> {
    this.client ??= import('../azure/service-principal-token-client.ts').then(({ ServicePrincipalTokenClient: Client }) => new Client({ cloud: this.cloud, userAgent: this.userAgent }));
    return this.client;
  }

  /** The identities that read Secret `namespace/name` (forgotten: they re-register on their next token). */
  takeUsersOf(namespace: string, name: string): IdentityRef[] {
    const key = `${namespace}/${name}`;
    const users = [...(this.users.get(key)?.values() ?? [])];
    this.users.delete(key);
    return users;
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
