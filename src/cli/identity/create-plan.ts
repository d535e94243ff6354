/**
 * What `identity create` needs in Azure, as pure functions: whether the identity must be created
 * (and where), and the role assignments — the identity's `--role` at `--scope`, and "Managed
 * Identity Operator" for the cluster identity on the new identity.
 * @module
 */
import { UsageError } from '../command.ts';
import type { AssignmentSpec } from '../azure/role-assignment-plan.ts';

/** Built-in "Managed Identity Operator" (same GUID in every tenant). */
export const MANAGED_IDENTITY_OPERATOR_GUID = 'f1a07417-d97a-45cb-824c-7a7467783830';

export function builtInRoleId(subscriptionId: string, guid: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
}

export interface IdentityView {
  readonly id: string;
  readonly clientId: string;
  readonly principalId: string;
  readonly location: string | undefined;
  /** The identity's tenant (what a federated AzureIdentity's tenantID must be). */
  readonly tenantId?: string | undefined;
}

export type IdentityStep = { readonly action: 'reuse'; readonly identity: IdentityView } | { readonly action: 'create'; readonly location: string };

/** Reuse what exists; a new identity needs a location (`--location`, else the cloud config's). */
export function planIdentity(existing: IdentityView | undefined, location: string | undefined, configLocation: string | undefined): IdentityStep {
  if (existing !== undefined) return { action: 'reuse', identity: existing };
  const chosen = location ?? configLocation;
  if (chosen === undefined || chosen === '') throw new UsageError('the identity does not exist yet and no location is known: give --location (or a --cloudconfig with "location")');
  return { action: 'create', location: chosen };
}

export interface AssignmentInputs {
  readonly subscriptionId: string;
  readonly identity: Pick<IdentityView, 'id' | 'principalId'>;
  readonly role: { readonly id: string; readonly name: string; readonly scope: string } | undefined;
  /** The cluster identity's object ID; undefined with `--skip-operator-grant`. */
  readonly clusterPrincipalId: string | undefined;
}

export function assignmentSpecs(inputs: AssignmentInputs): AssignmentSpec[] {
  const specs: AssignmentSpec[] = [];
  if (inputs.role !== undefined) {
    specs.push({ principalId: inputs.identity.principalId, roleDefinitionId: inputs.role.id, roleName: inputs.role.name, scope: inputs.role.scope, purpose: 'identity role' });
  }
  if (inputs.clusterPrincipalId !== undefined) {
    specs.push({
      principalId: inputs.clusterPrincipalId,
      roleDefinitionId: builtInRoleId(inputs.subscriptionId, MANAGED_IDENTITY_OPERATOR_GUID),
      roleName: 'Managed Identity Operator',
      scope: inputs.identity.id,
      purpose: 'cluster identity may assign it',
    });
  }
  return specs;
}
