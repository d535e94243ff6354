/**
 * The AzureIdentity and AzureIdentityBinding for a user-assigned identity — type 0 (assigned to
 * nodes) or type 3 (federated, with its tenant) — and how they are printed: YAML documents (`---`
 * separated) or a JSON `List`, ready for `kubectl apply -f -`.
 * @module
 */
import YAML from 'yaml';
import { IdentityType } from '../../api/identity-type.ts';
import { API_VERSION } from '../../api/names.ts';

export interface ManifestInput {
  /** Kubernetes name of the AzureIdentity; the binding is `<name>-binding`. */
  readonly name: string;
  readonly namespace: string;
  readonly selector: string;
  readonly resourceId: string;
  readonly clientId: string;
  /** Set for a federated identity (type 3): the identity's tenant. */
  readonly federatedTenantId?: string | undefined;
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: 'AzureIdentity' | 'AzureIdentityBinding';
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec: Record<string, unknown>;
}

export function identityManifests(input: ManifestInput): [KubeObject, KubeObject] {
  const metadata = { namespace: input.namespace };
  const spec =
    input.federatedTenantId === undefined
      ? { type: IdentityType.UserAssignedMSI, resourceID: input.resourceId, clientID: input.clientId }
      : { type: IdentityType.FederatedIdentity, resourceID: input.resourceId, clientID: input.clientId, tenantID: input.federatedTenantId };
  return [
    { apiVersion: API_VERSION, kind: 'AzureIdentity', metadata: { name: input.name, ...metadata }, spec },
    { apiVersion: API_VERSION, kind: 'AzureIdentityBinding', metadata: { name: `${input.name}-binding`, ...metadata }, spec: { azureIdentity: input.name, selector: input.selector } },
  ];
}

export type ManifestFormat = 'yaml' | 'json';

export function renderManifests(objects: readonly KubeObject[], format: ManifestFormat): string {
  if (format === 'json') return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`;
  return objects.map((object) => YAML.stringify(object)).join('---\n');
}
