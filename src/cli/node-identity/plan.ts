/**
 * What `node-identity enable` does to each VM / scale set, as pure functions: add the
 * system-assigned identity while keeping the user-assigned ones (ARM PATCH semantics: unmentioned
 * user-assigned identities stay, so only the type changes), and which principals then need the role.
 * @module
 */
import { hasSystemAssigned, type ResourceIdentityType } from '../../azure/identity-patch.ts';

export interface ComputeView {
  readonly kind: 'vm' | 'vmss';
  readonly name: string;
  readonly resourceGroup: string;
  readonly id: string;
  /** `identity.type` as ARM returned it. */
  readonly identityType: string | undefined;
  readonly principalId: string | undefined;
}

/** The identity type that adds SystemAssigned to `type`; undefined when it already has one. */
export function withSystemAssigned(type: string | undefined): ResourceIdentityType | undefined {
  if (hasSystemAssigned(type)) return undefined;
  const parts = (type ?? '').toLowerCase().replace(/\s/g, '').split(',');
  return parts.includes('userassigned') ? 'SystemAssigned, UserAssigned' : 'SystemAssigned';
}

export type NodeStep =
  | { readonly action: 'keep'; readonly resource: ComputeView; readonly principalId: string }
  | { readonly action: 'enable'; readonly resource: ComputeView; readonly type: ResourceIdentityType };

export function planNodeIdentities(resources: readonly ComputeView[]): NodeStep[] {
  return [...resources]
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name))
    .map((resource): NodeStep => {
      const type = withSystemAssigned(resource.identityType);
      // A system identity without a principal ID (not expected) is re-enabled, which returns it.
      if (type === undefined && resource.principalId !== undefined) return { action: 'keep', resource, principalId: resource.principalId };
      return { action: 'enable', resource, type: type ?? (resource.identityType as ResourceIdentityType) };
    });
}

/** Node resource groups from Kubernetes nodes' providerIDs (unique, case-insensitive), for when none is given. */
export function groupsOfNodes(targets: readonly { readonly subscriptionId: string; readonly resourceGroup: string }[]): { subscriptionId: string; resourceGroup: string }[] {
  const seen = new Map<string, { subscriptionId: string; resourceGroup: string }>();
  for (const target of targets) {
    const key = `${target.subscriptionId}/${target.resourceGroup}`.toLowerCase();
    if (!seen.has(key)) seen.set(key, { subscriptionId: target.subscriptionId, resourceGroup: target.resourceGroup });
  }
  return [...seen.values()];
}

/** One row of the summary. */
export interface NodeRow {
  readonly kind: 'vm' | 'vmss';
  readonly name: string;
  readonly resourceGroup: string;
  readonly systemIdentity: 'enabled' | 'already enabled' | 'failed';
  readonly principalId: string | undefined;
  readonly roleAssignment: 'created' | 'exists' | 'failed' | 'skipped';
  readonly error?: string;
}

/** A fixed-width table (like kubectl's), header first. */
export function renderTable(rows: readonly NodeRow[]): string {
  const header = ['KIND', 'NAME', 'RESOURCE GROUP', 'SYSTEM IDENTITY', 'PRINCIPAL ID', 'ROLE ASSIGNMENT'];
  const cells = rows.map((row) => [row.kind.toUpperCase(), row.name, row.resourceGroup, row.systemIdentity, row.principalId ?? '-', row.roleAssignment]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column]?.length ?? 0)));
  const line = (values: readonly string[]): string => values.map((value, column) => value.padEnd(widths[column] ?? 0)).join('   ').trimEnd();
  const errors = rows.filter((row) => row.error !== undefined).map((row) => `${row.kind} ${row.name}: ${row.error ?? ''}`);
  return [line(header), ...cells.map(line), ...(errors.length > 0 ? ['', 'Errors:', ...errors.map((text) => `  ${text}`)] : [])].join('\n') + '\n';
}
