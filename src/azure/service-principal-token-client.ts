/**
 * Tokens for service-principal identities (AzureIdentity types 1 and 2) from Entra ID with
 * @azure/identity's ClientSecretCredential / ClientCertificateCredential (aad-pod-identity-behaviour.md
 * §3.3.3), through the {@link EntraCredentialPool} (entra-credential-pool.ts: the v1 resource as the v2
 * scope `<resource>/.default`, the bounded credential cache, the error conversion).
 *
 * Credentials are kept per (tenant, client ID, authority, credential fingerprint): each holds MSAL's
 * in-memory token cache, so a rotated secret gets a fresh credential and an unchanged one reuses its
 * tokens. Failures become TokenRequestErrors (token-errors.ts): Entra refusing (AADSTS errors) is `rejected`,
 * network trouble, throttling and 5xx are `unavailable`.
 * @module
 */
import { createHash } from 'node:crypto';
import { ClientCertificateCredential, ClientSecretCredential } from '@azure/identity';
import { EntraCredentialPool, type EntraCredentialPoolOptions } from './entra-credential-pool.ts';
import type { Secret } from './secret.ts';
import type { ClientCertificate } from './service-principal.ts';
import type { AccessToken } from './access-token.ts';

/** What the identity's Secret gave us (see service-principal.ts). */
export type ServicePrincipalCredential =
  | { readonly kind: 'secret'; readonly clientSecret: Secret }
  | { readonly kind: 'certificate'; readonly certificate: Pick<ClientCertificate, 'pem'> };

export interface ServicePrincipalTokenRequest {
  readonly tenantId: string;
  readonly clientId: string;
  readonly credential: ServicePrincipalCredential;
  /** v1 resource (audience), e.g. `https://management.azure.com/`. */
  readonly resource: string;
  /** The AzureIdentity's `adEndpoint`; default the cloud's authority host. */
  readonly adEndpoint?: string | undefined;
  /** Extra tenants (type 1 only, as upstream: ignored for certificates); see {@link ServicePrincipalTokenClient.getTokens}. */
  readonly auxiliaryTenantIds?: readonly string[] | undefined;
}

export type ServicePrincipalTokenClientOptions = EntraCredentialPoolOptions;

/** Short fingerprint of the credential material: a changed secret or certificate means a new credential. */
export function credentialFingerprint(credential: ServicePrincipalCredential): string {
  const material = credential.kind === 'secret' ? credential.clientSecret.reveal() : credential.certificate.pem.reveal();
  return createHash('sha256').update(credential.kind).update('\0').update(material).digest('base64url').slice(0, 22);
}

export class ServicePrincipalTokenClient {
  private readonly pool: EntraCredentialPool;

  constructor(options: ServicePrincipalTokenClientOptions) {
    this.pool = new EntraCredentialPool(options);
  }

  /** Credentials currently cached (for tests and metrics). */
  get cachedCredentials(): number {
    return this.pool.size;
  }

  /** A token for the primary tenant. */
  async getToken(request: ServicePrincipalTokenRequest, signal?: AbortSignal): Promise<AccessToken> {
    return this.tokenFor(request, request.tenantId, signal);
  }

  /**
   * One token per tenant: the primary first, then each auxiliary tenant (type 1 only, as upstream).
   * Any failure fails the whole request.
   */
  async getTokens(request: ServicePrincipalTokenRequest, signal?: AbortSignal): Promise<AccessToken[]> {
    const auxiliary = request.credential.kind === 'secret' ? (request.auxiliaryTenantIds ?? []) : [];
    const tenants = [request.tenantId, ...auxiliary.filter((tenant) => tenant.trim() !== '')];
    return Promise.all(tenants.map((tenant) => this.tokenFor(request, tenant, signal)));
  }

  /** Closes the pool's connections. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  private tokenFor(request: ServicePrincipalTokenRequest, tenantId: string, signal: AbortSignal | undefined): Promise<AccessToken> {
    const { clientId, credential } = request;
    return this.pool.getToken(
      {
        tenantId,
        clientId,
        resource: request.resource,
        adEndpoint: request.adEndpoint,
        credentialKey: credentialFingerprint(credential),
        createCredential: (options) =>
          credential.kind === 'secret'
            ? new ClientSecretCredential(tenantId, clientId, credential.clientSecret.reveal(), options)
            : new ClientCertificateCredential(tenantId, clientId, { certificate: credential.certificate.pem.reveal() }, options),
        redact: () => [credential.kind === 'secret' ? credential.clientSecret.reveal() : credential.certificate.pem.reveal()],
      },
      signal,
    );
  }
}
