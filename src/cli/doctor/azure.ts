/**
 * The doctor's ARM reads: the identity block of the node's VM / VMSS (through MIC's compute identity
 * client), the principal MIC calls ARM with ("cluster identity"), that principal's role
 * assignments covering an identity (@azure/arm-authorization), and the federated identity
 * credentials of a type-3 identity (@azure/arm-msi). Credentials: the azure.json given with
 * `--cloudconfig` when it holds a service principal (MIC's own credential), otherwise
 * `DefaultAzureCredential` (az login, environment, workload or managed identity) against the
 * azure.json's cloud, or the public cloud without one.
 * @module
 */
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ManagedServiceIdentityClient, type Identity } from '@azure/arm-msi';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { decodeJwt } from 'jose';
import { pino } from 'pino';
import { parseUserAssignedIdentityId, type UserAssignedIdentityId } from '../../api/index.ts';
import type { CloudConfig } from '../../azure/cloud-config.ts';
import { resolveCloud, type ResolvedCloud } from '../../azure/clouds.ts';
import { createComputeIdentityClient, type ComputeIdentityClient } from '../../azure/compute-identity-client.ts';
import { createCredential, readConfiguredCa } from '../../azure/credentials.ts';
import type { ComputeTargetRef } from '../../azure/provider-id.ts';
import { describeError } from '../../lib/errors.ts';
import type { ComputeRead, FederatedCredentialsRead, PrincipalRead, RoleRead } from './model.ts';

/** What gather() asks of ARM; a fake in unit tests. */
export interface AzureReader {
  /** Why ARM cannot be read at all (no credential), or undefined. */
  unavailable(): Promise<string | undefined>;
  readCompute(target: ComputeTargetRef): Promise<ComputeRead>;
  clusterPrincipal(): Promise<PrincipalRead>;
  /** Role assignments of `principalId` at, above or below `resourceId`. */
  readRoles(resourceId: string, principalId: string): Promise<RoleRead>;
  /**
   * The federated identity credentials of a user-assigned identity: the one `resourceId` names, else
   * the one with `clientId` in the azure.json's subscription.
   */
  readFederatedCredentials(identity: { readonly resourceId: string | undefined; readonly clientId: string | undefined }): Promise<FederatedCredentialsRead>;
}

export interface AzureReaderOptions {
  /** Parsed `--cloudconfig`, if given. */
  readonly config: CloudConfig | undefined;
  /** `--cluster-principal-id`. */
  readonly clusterPrincipalId: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Replaces the credential (tests). */
  readonly credential?: TokenCredential;
}

const statusOf = (error: unknown): number | undefined => {
  const context = (error as { context?: { statusCode?: number } } | null)?.context;
  if (context?.statusCode !== undefined) return context.statusCode;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
};

/** A user-assigned identity located for its credentials; `resource` when it was found by listing. */
interface FoundIdentity {
  readonly kind: 'found';
  readonly id: UserAssignedIdentityId;
  readonly text: string;
  readonly resource: Identity | undefined;
}

/** Builds an {@link AzureReader}; throws CloudConfigError / CloudResolutionError for a bad config. */
export async function createAzureReader(options: AzureReaderOptions): Promise<AzureReader> {
  const { config } = options;
  const cloud: ResolvedCloud = await resolveCloud(config ?? {}, { env: options.env });
  const caPem = config === undefined ? undefined : await readConfiguredCa(config);
  const tlsOptions = caPem === undefined ? {} : { tlsOptions: { ca: caPem } };
  const usesConfigCredential = config !== undefined && !config.useManagedIdentityExtension;
  const credential: TokenCredential =
    options.credential ?? (usesConfigCredential ? createCredential(config, cloud, { caPem }) : new DefaultAzureCredential({ authorityHost: cloud.authorityHost, ...tlsOptions }));
  const credentialName = options.credential !== undefined ? 'the given credential' : usesConfigCredential ? `service principal ${config.aadClientId ?? ''} from ${config.source}` : 'DefaultAzureCredential';
  const logger = pino({ level: 'silent' });
  const compute: ComputeIdentityClient = createComputeIdentityClient({
    credential,
    cloud,
    caPem,
    logger,
    userAgent: 'pod-identity-doctor',
    transientRetry: { maxRetries: 1, baseDelayMs: 500, maxDelayMs: 1_000 },
  });
  const clientOptions = { endpoint: cloud.resourceManagerEndpoint, credentialScopes: [cloud.armScope], ...tlsOptions };
  let tokenProblem: Promise<string | undefined> | undefined;

  const reader: AzureReader = {
    unavailable() {
      tokenProblem ??= credential.getToken(cloud.armScope).then(
        (token) => (token === null ? `${credentialName} returned no token` : undefined),
        (error: unknown) => `${credentialName} could not get an ARM token (${describeError(error).split('\n')[0] ?? ''}); pass --cloudconfig <azure.json> or sign in (az login)`,
      );
      return tokenProblem;
    },

    async readCompute(target) {
      try {
        const state = await compute.getIdentity(target);
        return { kind: 'ok', target, identities: state.identity.userAssignedIdentities };
      } catch (error) {
        return { kind: 'error', target, message: describeError(error), statusCode: statusOf(error) };
      }
    },

    async clusterPrincipal() {
      if (options.clusterPrincipalId !== undefined) return { kind: 'known', principalId: options.clusterPrincipalId, source: '--cluster-principal-id' };
      if (config === undefined) return { kind: 'unknown', reason: 'no azure.json given (--cloudconfig), so the cluster identity is not known' };
      if (usesConfigCredential) {
        // The token MIC's service principal gets names its object ID: no Graph lookup needed.
        try {
          const token = await credential.getToken(cloud.armScope);
          const oid = token === null ? undefined : decodeJwt(token.token)['oid'];
          if (typeof oid === 'string' && oid !== '') return { kind: 'known', principalId: oid, source: `service principal ${config.aadClientId ?? ''} (azure.json aadClientId)` };
          return { kind: 'unknown', reason: `the token of service principal ${config.aadClientId ?? ''} carries no oid claim` };
        } catch (error) {
          return { kind: 'unknown', reason: `cannot sign in as service principal ${config.aadClientId ?? ''}: ${describeError(error)}` };
        }
      }
      const clientId = config.userAssignedIdentityID;
      if (clientId === undefined) {
        return { kind: 'unknown', reason: 'azure.json uses the node\'s system-assigned identity; its object ID is the VMSS/VM identity.principalId (az vmss show --query identity.principalId)' };
      }
      try {
        const msi = new ManagedServiceIdentityClient(credential, config.subscriptionId, clientOptions);
        for await (const identity of msi.userAssignedIdentities.listBySubscription()) {
          if (identity.clientId?.toLowerCase() === clientId.toLowerCase() && identity.principalId !== undefined) {
            return { kind: 'known', principalId: identity.principalId, source: `user-assigned identity ${identity.id ?? clientId} (azure.json userAssignedIdentityID)` };
          }
        }
        return { kind: 'unknown', reason: `no user-assigned identity with client ID ${clientId} in subscription ${config.subscriptionId}` };
      } catch (error) {
        return { kind: 'unknown', reason: `cannot look up the identity with client ID ${clientId}: ${describeError(error)}` };
      }
    },

    async readRoles(resourceId, principalId) {
      const parsed = parseUserAssignedIdentityId(resourceId);
      if (parsed === undefined) return { kind: 'error', message: `${resourceId} is not a user-assigned identity resource ID`, statusCode: undefined };
      try {
        const client = new AuthorizationManagementClient(credential, parsed.subscriptionId, clientOptions);
        const assignments: { roleDefinitionId: string; scope: string }[] = [];
        for await (const assignment of client.roleAssignments.listForScope(resourceId, { filter: `principalId eq '${principalId}'` })) {
          if (assignment.principalId !== undefined && assignment.principalId.toLowerCase() !== principalId.toLowerCase()) continue;
          assignments.push({ roleDefinitionId: assignment.roleDefinitionId ?? '', scope: assignment.scope ?? '' });
        }
        return { kind: 'ok', assignments };
      } catch (error) {
        return { kind: 'error', message: describeError(error), statusCode: statusOf(error) };
      }
    },

    async readFederatedCredentials(identity) {
      try {
        const found = await findIdentity(identity);
        if (found.kind === 'error') return found;
        const { subscriptionId, resourceGroup, name } = found.id;
        const msi = new ManagedServiceIdentityClient(credential, subscriptionId, clientOptions);
        const resource = found.resource ?? (await msi.userAssignedIdentities.get(resourceGroup, name));
        const credentials = [];
        for await (const entry of msi.federatedIdentityCredentials.list(resourceGroup, name)) {
          credentials.push({ name: entry.name ?? '', issuer: entry.issuer ?? '', subject: entry.subject ?? '', audiences: entry.audiences ?? [] });
        }
        return { kind: 'ok', identityId: resource.id ?? found.text, clientId: resource.clientId, credentials };
      } catch (error) {
        return { kind: 'error', message: describeError(error).split('\n')[0] ?? '', statusCode: statusOf(error) };
      }
    },
  };

  /** The identity's parsed ID, and the resource when it had to be searched for by client ID. */
  async function findIdentity(identity: { readonly resourceId: string | undefined; readonly clientId: string | undefined }): Promise<FoundIdentity | Extract<FederatedCredentialsRead, { kind: 'error' }>> {
    const parsed = parseUserAssignedIdentityId(identity.resourceId ?? '');
    if (parsed !== undefined) return { kind: 'found', id: parsed, text: identity.resourceId ?? '', resource: undefined };
    const subscriptionId = config?.subscriptionId;
    if (identity.clientId === undefined || subscriptionId === undefined || subscriptionId === '') {
      return { kind: 'error', message: 'the AzureIdentity has no spec.resourceID, and no --cloudconfig names a subscription to look its client ID up in', statusCode: undefined };
    }
    const msi = new ManagedServiceIdentityClient(credential, subscriptionId, clientOptions);
    for await (const resource of msi.userAssignedIdentities.listBySubscription()) {
      const id = parseUserAssignedIdentityId(resource.id ?? '');
      if (resource.clientId?.toLowerCase() === identity.clientId.toLowerCase() && id !== undefined) return { kind: 'found', id, text: resource.id ?? '', resource };
    }
    return { kind: 'error', message: `no user-assigned identity with client ID ${identity.clientId} in subscription ${subscriptionId}`, statusCode: 404 };
  }
  return reader;
}
