/**
 * Wiring for MIC: cloud config → cloud endpoints → credential → compute identity client, with the
 * configured CA trusted by both the credential and ARM.
 * @module
 */
import type { TokenCredential } from '@azure/identity';
import type { CloudConfig } from './cloud-config.ts';
import { resolveCloud, type ResolvedCloud } from './clouds.ts';
import { createComputeIdentityClient, type ComputeIdentityClient, type ComputeIdentityClientOptions } from './compute-identity-client.ts';
import { loadComputeOperations } from './compute-operations.ts';
import { createCredential, credentialKind, readConfiguredCa } from './credentials.ts';

export interface AzureConnection {
  readonly cloud: ResolvedCloud;
  readonly credential: TokenCredential;
  readonly compute: ComputeIdentityClient;
}

export interface ConnectAzureOptions extends Omit<ComputeIdentityClientOptions, 'credential' | 'cloud' | 'caPem'> {
  /** For `AZURE_ENVIRONMENT_FILEPATH` (Azure Stack); pass `process.env` from main. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Builds everything MIC needs to talk to ARM from a parsed config; throws CloudResolutionError / CloudConfigError. */
export async function connectAzure(config: CloudConfig, options: ConnectAzureOptions): Promise<AzureConnection> {
  const cloud = await resolveCloud(config, options.env === undefined ? {} : { env: options.env });
  const caPem = await readConfiguredCa(config);
  // Loaded now, so that a broken installation stops MIC at start rather than at its first ARM call.
  await loadComputeOperations();
  const credential = createCredential(config, cloud, { caPem });
  const { env: _env, ...clientOptions } = options;
  const compute = createComputeIdentityClient({ ...clientOptions, credential, cloud, caPem });
  options.logger.info(
    { cloud: cloud.name, resourceManagerEndpoint: cloud.resourceManagerEndpoint, authorityHost: cloud.authorityHost, credential: credentialKind(config), customCa: caPem !== undefined },
    'Azure connection configured',
  );
  return { cloud, credential, compute };
}
