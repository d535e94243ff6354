/**
 * Routes a parsed ARM path to its handler.
 * @module
 */
import type { ArmContext, ArmRequest, ArmResponse } from './context.ts';
import { handleCompute, handleScaleSetInstances } from './handlers/compute.ts';
import { handleFederatedCredentials } from './handlers/federated-credentials.ts';
import { handleIdentities } from './handlers/identities.ts';
import { handleOperation } from './handlers/operations.ts';
import { handleResources } from './handlers/resources.ts';
import { handleRoleAssignments } from './handlers/role-assignments.ts';
import { handleRoleDefinitions } from './handlers/role-definitions.ts';
import type { ArmRoute } from './paths.ts';

export function dispatch(context: ArmContext, route: ArmRoute, request: ArmRequest): ArmResponse {
  switch (route.kind) {
    case 'tenants':
    case 'subscriptions':
    case 'subscription':
    case 'resourceGroups':
    case 'resourceGroup':
      return handleResources(context, route, request);
    case 'compute':
      return handleCompute(context, route, request);
    case 'scaleSetInstances':
      return handleScaleSetInstances(context, route, request);
    case 'computeOperation':
      return handleOperation(context, route, request);
    case 'userAssignedIdentities':
      return handleIdentities(context, route, request);
    case 'federatedIdentityCredentials':
      return handleFederatedCredentials(context, route, request);
    case 'roleDefinitions':
      return handleRoleDefinitions(context, route, request);
    case 'roleAssignments':
      return handleRoleAssignments(context, route, request);
  }
}
