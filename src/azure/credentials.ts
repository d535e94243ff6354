/**
 * The credential MIC calls ARM with, from the cloud config (aad-pod-identity-behaviour.md §2.6):
 * the node's managed identity when `useManagedIdentityExtension` (user-assigned by
 * `userAssignedIdentityID`, else system-assigned), otherwise the service principal
 * `aadClientId`/`aadClientSecret` in `tenantId` against the cloud's authority host.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import type { CloudConfig } from './cloud-config.ts';
import { CloudConfigError } from './cloud-config.ts';
import type { ResolvedCloud } from './clouds.ts';

export interface CredentialOptions {
  /** Extra CA certificates (PEM) to trust for Entra ID, e.g. the simulator's. */
  readonly caPem?: string | undefined;
  /** Tenants the service principal may also get tokens for (`*` = any); default none. */
  readonly additionallyAllowedTenants?: readonly string[];
}

/** What {@link createCredential} built, for logs (no secrets). */
export type CredentialKind = 'managed-identity-system-assigned' | 'managed-identity-user-assigned' | 'service-principal-secret';

export function credentialKind(config: CloudConfig): CredentialKind {
  if (!config.useManagedIdentityExtension) return 'service-principal-secret';
  return config.userAssignedIdentityID === undefined ? 'managed-identity-system-assigned' : 'managed-identity-user-assigned';
}

/**
 * A TokenCredential for ARM. Managed identity goes through IMDS (or whatever @azure/identity's
 * environment points it at). For a service principal at an authority host MSAL does not know —
 * Azure Stack, the simulator — instance discovery is turned off: otherwise MSAL asks the public
 * cloud about the host, which fails offline (azure-protocols.md §5.4). The CA is trusted per
 * credential (`tlsOptions.ca`), never process-wide.
 */
export function createCredential(config: CloudConfig, cloud: ResolvedCloud, options: CredentialOptions = {}): TokenCredential {
  const tlsOptions = options.caPem === undefined ? {} : { tlsOptions: { ca: options.caPem } };
  if (config.useManagedIdentityExtension) {
    // aadClientId/aadClientSecret hold AKS's "msi" placeholder here and are ignored, as upstream.
    return config.userAssignedIdentityID === undefined
      ? new ManagedIdentityCredential({ ...tlsOptions })
      : new ManagedIdentityCredential({ clientId: config.userAssignedIdentityID, ...tlsOptions });
  }
  const { tenantId, aadClientId, aadClientSecret } = config;
  if (tenantId === undefined || aadClientId === undefined || aadClientSecret === undefined) {
    // parseCloudConfig guarantees these; a hand-built config may not.
    throw new CloudConfigError(config.source, ['tenantId, aadClientId and aadClientSecret are required for a service principal']);
  }
  return new ClientSecretCredential(tenantId, aadClientId, aadClientSecret.reveal(), {
    authorityHost: cloud.authorityHost,
    disableInstanceDiscovery: !cloud.knownAuthorityHost,
    ...(options.additionallyAllowedTenants !== undefined ? { additionallyAllowedTenants: [...options.additionallyAllowedTenants] } : {}),
    ...tlsOptions,
  });
}

/** The PEM of `config.caFile`, if any; a missing or unreadable file is a {@link CloudConfigError}. */
export async function readConfiguredCa(config: CloudConfig): Promise<string | undefined> {
  if (config.caFile === undefined) return undefined;
  let pem: string;
  try {
    pem = await readFile(config.caFile, 'utf8');
  } catch (error) {
    throw new CloudConfigError(config.source, [`caFile: cannot read ${config.caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`], { cause: error });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CloudConfigError(config.source, [`caFile: ${config.caFile} holds no PEM certificate`]);
  return pem;
}
