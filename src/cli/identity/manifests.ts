/**
 * The AzureIdentity and AzureIdentityBinding for a user-assigned identity, and how they are printed:
 * YAML documents (`---` separated) or a JSON `List`, ready for `kubectl apply -f -`.
 * @module
 */
import YAML from 'yaml';
import { API_VERSION } from '../../api/names.ts';

export interface ManifestInput {
  /** Kubernetes name of the AzureIdentity; the binding is `<name>-binding`. */
  readonly name: string;
  readonly namespace: string;
  readonly selector: string;
  readonly resourceId: string;
  readonly clientId: string;
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: 'AzureIdentity' | 'AzureIdentityBinding';
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec: Record<string, unknown>;
}

export function identityManifests(input: ManifestInput): [KubeObject, KubeObject] {
  const metadata = { namespace: input.namespace };
  return [
    { apiVersion: API_VERSION, kind: 'AzureIdentity', metadata: { name: input.name, ...metadata }, spec: { type: 0, resourceID: input.resourceId, clientID: input.clientId } },
    { apiVersion: API_VERSION, kind: 'AzureIdentityBinding', metadata: { name: `${input.name}-binding`, ...metadata }, spec: { azureIdentity: input.name, selector: input.selector } },
  ];
}

export type ManifestFormat = 'yaml' | 'json';

export function renderManifests(objects: readonly KubeObject[], format: ManifestFormat): string {
  if (format === 'json') return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`;
  return objects.map((object) => YAML.stringify(object)).join('---\n');
}
