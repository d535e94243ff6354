/**
 * JSON shapes of tenants, subscriptions and resource groups (`Microsoft.Resources`), as the az CLI
 * and @azure/arm-resources read them after a login (azure-protocols.md §2.3).
 * @module
 */

export function renderTenant(tenantId: string): Record<string, unknown> {
  return {
    id: `/tenants/${tenantId}`,
    tenantId,
    tenantCategory: 'Home',
    displayName: 'Simulated tenant',
    domains: [],
    tenantType: 'AAD',
  };
}

export function renderSubscription(subscriptionId: string, tenantId: string): Record<string, unknown> {
  return {
    id: `/subscriptions/${subscriptionId}`,
    authorizationSource: 'RoleBased',
    managedByTenants: [],
    subscriptionId,
    tenantId,
    displayName: `Simulated subscription ${subscriptionId}`,
    state: 'Enabled',
    subscriptionPolicies: { locationPlacementId: 'Public_2014-09-01', quotaId: 'PayAsYouGo_2014-09-01', spendingLimit: 'Off' },
  };
}

/** `id` is `/subscriptions/{sub}/resourceGroups/{name}` as stored. */
export function renderResourceGroup(id: string, location: string): Record<string, unknown> {
  const name = id.split('/').pop() ?? id;
  return {
    id,
    name,
    type: 'Microsoft.Resources/resourceGroups',
    location,
    properties: { provisioningState: 'Succeeded' },
  };
}
