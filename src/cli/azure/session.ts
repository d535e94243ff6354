/**
 * The Azure side of `identity create` and `node-identity enable`: which cloud (endpoints, CA), which
 * credential, which subscription, and ARM clients for them. Credentials come from
 * `DefaultAzureCredential` (environment, workload identity, managed identity, Azure CLI, …);
 * `--cloudconfig <azure.json>` — the file MIC reads — gives the cloud's endpoints and CA, the
 * subscription, the node resource group and the cluster identity, and with
 * `--use-cloudconfig-credential` also the credential (as MIC does).
 * @module
 */
import { ComputeManagementClient } from '@azure/arm-compute';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { loadCloudConfig, type CloudConfig } from '../../azure/cloud-config.ts';
import { resolveCloud, type ResolvedCloud } from '../../azure/clouds.ts';
import { createCredential, readConfiguredCa } from '../../azure/credentials.ts';
import { UsageError } from '../command.ts';
import { isGuid } from './resource-ids.ts';

export interface AzureSessionOptions {
  readonly cloudconfig: string | undefined;
  readonly subscription: string | undefined;
  readonly useCloudconfigCredential: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface AzureSession {
  readonly cloud: ResolvedCloud;
  readonly credential: TokenCredential;
  readonly subscriptionId: string;
  /** The parsed `--cloudconfig`, when given. */
  readonly config: CloudConfig | undefined;
  readonly caPem: string | undefined;
  readonly msi: ManagedServiceIdentityClient;
  readonly authorization: AuthorizationManagementClient;
  readonly compute: ComputeManagementClient;
}

/** The subscription: `--subscription`, else the cloud config's, else `AZURE_SUBSCRIPTION_ID`. */
export function chooseSubscription(flag: string | undefined, config: CloudConfig | undefined, env: Readonly<Record<string, string | undefined>>): string {
  const chosen = flag ?? config?.subscriptionId ?? env['AZURE_SUBSCRIPTION_ID'];
  if (chosen === undefined || chosen === '') throw new UsageError('no subscription: give --subscription, --cloudconfig, or set AZURE_SUBSCRIPTION_ID');
  if (!isGuid(chosen)) throw new UsageError(`subscription ${JSON.stringify(chosen)} is not a GUID`);
  return chosen;
}

export async function openAzureSession(options: AzureSessionOptions): Promise<AzureSession> {
  if (options.useCloudconfigCredential && options.cloudconfig === undefined) throw new UsageError('--use-cloudconfig-credential needs --cloudconfig');
  let config: CloudConfig | undefined;
  if (options.cloudconfig !== undefined) {
    try {
      config = await loadCloudConfig({ path: options.cloudconfig, env: {} });
    } catch (error) {
      throw new UsageError((error as Error).message, { cause: error });
    }
  }
  const subscriptionId = chooseSubscription(options.subscription, config, options.env);
  const cloud = await resolveCloud(config ?? {}, { env: options.env });
  const caPem = config === undefined ? undefined : await readConfiguredCa(config);
  const tlsOptions = caPem === undefined ? {} : { tlsOptions: { ca: caPem } };
  let credential: TokenCredential;
  if (config !== undefined && options.useCloudconfigCredential) {
    credential = createCredential(config, cloud, { caPem });
  } else if (config !== undefined) {
    // The cloud config names the authority host (a private cloud, the simulator): use it.
    credential = new DefaultAzureCredential({ authorityHost: cloud.authorityHost, disableInstanceDiscovery: !cloud.knownAuthorityHost, ...tlsOptions });
  } else {
    credential = new DefaultAzureCredential();
  }
  const common = { endpoint: cloud.resourceManagerEndpoint, ...tlsOptions, userAgentOptions: { userAgentPrefix: 'pod-identity-cli' } };
  return {
    cloud,
    credential,
    subscriptionId,
    config,
    caPem,
    msi: new ManagedServiceIdentityClient(credential, subscriptionId, { ...common, credentialScopes: [cloud.armScope] }),
    authorization: new AuthorizationManagementClient(credential, subscriptionId, { ...common, credentialScopes: [cloud.armScope] }),
    compute: new ComputeManagementClient(credential, subscriptionId, { ...common, credentials: { scopes: [cloud.armScope] } }),
  };
}
