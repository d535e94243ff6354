/**
 * JSON shapes of `Microsoft.ManagedIdentity/userAssignedIdentities` (azure-protocols.md §4.1) and of their
 * `federatedIdentityCredentials`; the JS SDK flattens `properties` (to `tenantId/principalId/clientId`,
 * `issuer/subject/audiences`).
 * @module
 */
import type { FederatedIdentityCredential, UserAssignedIdentity } from '../../state/model.ts';

export const IDENTITY_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';

export function renderUserAssignedIdentity(identity: UserAssignedIdentity): Record<string, unknown> {
  return {
    id: identity.id,
    name: identity.name,
    type: IDENTITY_TYPE,
    location: identity.location,
    tags: { ...identity.tags },
    properties: {
      isolationScope: 'None',
      tenantId: identity.tenantId,
      principalId: identity.principalId,
      clientId: identity.clientId,
    },
  };
}

/** The audience Entra ID expects of tokens exchanged for its tokens (the portal's default for new credentials). */
export const AZURE_AD_TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

export const FEDERATED_CREDENTIAL_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials';

/** `…/userAssignedIdentities/{identity}/federatedIdentityCredentials/{name}`, below the identity's ID as stored. */
export function federatedCredentialId(identityId: string, name: string): string {
  return `${identityId}/federatedIdentityCredentials/${name}`;
}

/** The JSON shape `@azure/arm-msi` reads: a proxy resource with `properties.issuer/subject/audiences`. */
export function renderFederatedCredential(identity: UserAssignedIdentity, credential: FederatedIdentityCredential): Record<string, unknown> {
  return {
    id: federatedCredentialId(identity.id, credential.name),
    name: credential.name,
    type: FEDERATED_CREDENTIAL_TYPE,
    properties: { issuer: credential.issuer, subject: credential.subject, audiences: [...credential.audiences] },
  };
}
