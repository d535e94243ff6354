/**
 * The principal (object ID) of the cluster identity — the one MIC uses to assign identities to nodes,
 * which needs "Managed Identity Operator" on every identity it assigns. In order: `--cluster-principal-id`;
 * from the cloud config, the user-assigned (kubelet) identity named by `userAssignedIdentityID` (found
 * by client ID in the subscription), or the service principal `aadClientId` (its token's `oid` claim).
 * @module
 */
import type { ManagedServiceIdentityClient } from '@azure/arm-msi';
import type { TokenCredential } from '@azure/identity';
import { decodeJwt } from 'jose';
import type { CloudConfig } from '../../azure/cloud-config.ts';
import { createCredential } from '../../azure/credentials.ts';
import type { ResolvedCloud } from '../../azure/clouds.ts';
import { UsageError } from '../command.ts';
import { describedCall } from '../azure/arm-error.ts';

/** Where the cluster principal comes from (pure decision). */
export type ClusterPrincipalSource =
  | { readonly kind: 'flag'; readonly principalId: string }
  | { readonly kind: 'user-assigned'; readonly clientId: string }
  | { readonly kind: 'service-principal'; readonly clientId: string };

export function clusterPrincipalSource(flag: string | undefined, config: CloudConfig | undefined): ClusterPrincipalSource {
  if (flag !== undefined) return { kind: 'flag', principalId: flag };
  if (config === undefined) {
    throw new UsageError('the cluster identity is unknown: give --cloudconfig (the azure.json MIC uses), --cluster-principal-id, or --skip-operator-grant');
  }
  if (config.useManagedIdentityExtension) {
    if (config.userAssignedIdentityID === undefined) {
      throw new UsageError(`${config.source} uses the nodes' system-assigned identity: give its object ID with --cluster-principal-id, or --skip-operator-grant`);
    }
    return { kind: 'user-assigned', clientId: config.userAssignedIdentityID };
  }
  if (config.aadClientId === undefined) throw new UsageError(`${config.source} names no cluster identity (aadClientId)`);
  return { kind: 'service-principal', clientId: config.aadClientId };
}

export interface ClusterPrincipalDeps {
  readonly msi: ManagedServiceIdentityClient;
  readonly subscriptionId: string;
  readonly cloud: ResolvedCloud;
  readonly caPem: string | undefined;
  /** Builds the credential of the cloud config (tests may replace it). */
  readonly credentialFor?: (config: CloudConfig) => TokenCredential;
}

export async function resolveClusterPrincipal(source: ClusterPrincipalSource, config: CloudConfig | undefined, deps: ClusterPrincipalDeps): Promise<string> {
  switch (source.kind) {
    case 'flag':
      return source.principalId;
    case 'user-assigned': {
      const scope = `/subscriptions/${deps.subscriptionId}`;
      const identities = await describedCall({ action: 'list user-assigned identities to find the cluster identity', neededRoles: ['Reader', 'Managed Identity Operator'], scope }, async () => {
        const found = [];
        for await (const identity of deps.msi.userAssignedIdentities.listBySubscription()) found.push(identity);
        return found;
      });
      const match = identities.find((identity) => identity.clientId?.toLowerCase() === source.clientId.toLowerCase());
      if (match?.principalId === undefined) throw new UsageError(`the cluster identity (client ID ${source.clientId}) is not a user-assigned identity of this subscription: give --cluster-principal-id`);
      return match.principalId;
    }
    case 'service-principal': {
      if (config === undefined) throw new UsageError('service-principal cluster identity needs --cloudconfig');
      const credential = deps.credentialFor?.(config) ?? createCredential(config, deps.cloud, { caPem: deps.caPem });
      let token;
      try {
        token = await credential.getToken(deps.cloud.armScope);
      } catch (error) {
        throw new UsageError(`cannot sign in as the cluster's service principal ${source.clientId} from ${config.source} to learn its object ID: ${(error as Error).message}; give --cluster-principal-id`, { cause: error });
      }
      const oid = token === null ? undefined : decodeJwt(token.token)['oid'];
      if (typeof oid !== 'string') throw new UsageError(`the token of service principal ${source.clientId} has no oid claim: give --cluster-principal-id`);
      return oid;
    }
  }
}
