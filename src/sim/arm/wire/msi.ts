/**
 * JSON shape of `Microsoft.ManagedIdentity/userAssignedIdentities` (azure-protocols.md §4.1); the JS
 * SDK flattens `properties` to `tenantId/principalId/clientId`.
 * @module
 */
import type { UserAssignedIdentity } from '../../state/model.ts';

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
