import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/command.ts';
import { assignmentSpecs, builtInRoleId, MANAGED_IDENTITY_OPERATOR_GUID, planIdentity } from '../../../src/cli/identity/create-plan.ts';
import { identityManifests, renderManifests } from '../../../src/cli/identity/manifests.ts';
import { checkScope, parseScope, sameScope } from '../../../src/cli/azure/resource-ids.ts';
import { kubeNameFor } from '../../../src/cli/identity/names.ts';
import { assignmentName, planAssignment, roleGuidOf, uniqueSpecs, type AssignmentSpec } from '../../../src/cli/azure/role-assignment-plan.ts';
import YAML from 'yaml';

const SUB = '00000000-0000-0000-0000-0000000000aa';
const spec: AssignmentSpec = {
  principalId: '11111111-1111-4111-8111-111111111111',
  roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`,
  roleName: 'Reader',
  scope: `/subscriptions/${SUB}/resourceGroups/data`,
  purpose: 'identity role',
};

describe('scopes', () => {
  it('accepts subscriptions, groups, resources, management groups and /', () => {
    expect(parseScope(`/subscriptions/${SUB}`)).toEqual({ kind: 'subscription', subscriptionId: SUB });
    expect(parseScope(`/subscriptions/${SUB}/resourceGroups/rg-1/`)).toEqual({ kind: 'resourceGroup', subscriptionId: SUB, resourceGroup: 'rg-1' });
    expect(parseScope(`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default`)?.kind).toBe('resource');
    expect(parseScope('/providers/Microsoft.Management/managementGroups/mg')).toEqual({ kind: 'managementGroup', name: 'mg' });
    expect(parseScope('/')).toEqual({ kind: 'root' });
  });

  it('refuses malformed scopes with what is expected', () => {
    for (const bad of ['', 'subscriptions/x', '/subscriptions/not-a-guid', `/subscriptions/${SUB}/resourcegroup/x`, `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts`, `/subscriptions/${SUB}//resourceGroups/x`]) {
      expect(parseScope(bad), bad).toBeUndefined();
      expect(checkScope(bad)).toContain('an ARM scope');
    }
  });

  it('compares scopes case-insensitively without trailing slashes', () => {
    expect(sameScope(`/subscriptions/${SUB}/resourceGroups/Data/`, `/SUBSCRIPTIONS/${SUB}/resourcegroups/data`)).toBe(true);
    expect(sameScope(`/subscriptions/${SUB}/resourceGroups/data`, `/subscriptions/${SUB}/resourceGroups/data2`)).toBe(false);
  });

  it('derives a Kubernetes name from the identity name', () => {
    expect(kubeNameFor('My_App-Id')).toBe('my-app-id');
  });
});

describe('role assignment planning', () => {
  it('derives a stable GUID name from scope, role and principal (case-insensitive)', () => {
    const name = assignmentName(spec);
    expect(name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(assignmentName({ ...spec, scope: spec.scope.toUpperCase() + '/', principalId: spec.principalId.toUpperCase() })).toBe(name);
    expect(assignmentName({ ...spec, scope: `${spec.scope}2` })).not.toBe(name);
  });

  it('creates when nothing matches, keeps an equal assignment under any name', () => {
    expect(planAssignment(spec, [])).toEqual({ action: 'create', spec, name: assignmentName(spec) });
    const other = { id: 'x', principalId: spec.principalId, roleDefinitionId: '/providers/Microsoft.Authorization/roleDefinitions/ACDD72A7-3385-48EF-BD42-F606FBA81AE7', scope: spec.scope.toUpperCase() };
    expect(planAssignment(spec, [other])).toEqual({ action: 'exists', spec, existingId: 'x' });
    // Same principal and role at a parent scope, or another role: still to create.
    expect(planAssignment(spec, [{ ...other, scope: `/subscriptions/${SUB}` }]).action).toBe('create');
    expect(planAssignment(spec, [{ ...other, roleDefinitionId: 'b24988ac-6180-42a0-ab88-20f7382dd24c' }]).action).toBe('create');
  });

  it('reads role GUIDs and drops duplicate specs', () => {
    expect(roleGuidOf('/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/ABC')).toBe('abc');
    expect(uniqueSpecs([spec, { ...spec, purpose: 'again' }])).toEqual([spec]);
  });
});

describe('identity create planning', () => {
  const identity = { id: `/subscriptions/${SUB}/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app`, clientId: 'c', principalId: 'p', location: 'westeurope' };

  it('reuses an existing identity and needs a location only for a new one', () => {
    expect(planIdentity(identity, undefined, undefined)).toEqual({ action: 'reuse', identity });
    expect(planIdentity(undefined, 'northeurope', 'westeurope')).toEqual({ action: 'create', location: 'northeurope' });
    expect(planIdentity(undefined, undefined, 'westeurope')).toEqual({ action: 'create', location: 'westeurope' });
    expect(() => planIdentity(undefined, undefined, undefined)).toThrow(UsageError);
  });

  it('assigns --role to the identity and Managed Identity Operator on it to the cluster identity', () => {
    const specs = assignmentSpecs({ subscriptionId: SUB, identity, role: { id: spec.roleDefinitionId, name: 'Reader', scope: spec.scope }, clusterPrincipalId: 'cluster' });
    expect(specs.map((entry) => [entry.principalId, entry.roleName, entry.scope])).toEqual([
      ['p', 'Reader', spec.scope],
      ['cluster', 'Managed Identity Operator', identity.id],
    ]);
    expect(specs[1]?.roleDefinitionId).toBe(builtInRoleId(SUB, MANAGED_IDENTITY_OPERATOR_GUID));
    expect(assignmentSpecs({ subscriptionId: SUB, identity, role: undefined, clusterPrincipalId: undefined })).toEqual([]);
  });

  it('renders the AzureIdentity and binding as YAML documents or a JSON List', () => {
    const objects = identityManifests({ name: 'app', namespace: 'ns', selector: 'sel', resourceId: identity.id, clientId: 'c' });
    const yaml = renderManifests(objects, 'yaml');
    expect(YAML.parseAllDocuments(yaml).map((document) => document.toJS() as unknown)).toEqual(objects);
    expect(yaml).toContain('---\n');
    expect(JSON.parse(renderManifests(objects, 'json'))).toEqual({ apiVersion: 'v1', kind: 'List', items: objects });
    expect(objects[1].spec).toEqual({ azureIdentity: 'app', selector: 'sel' });
  });
});
