/**
 * The Kubernetes side of `identity create --apply`: server-side apply of our objects with the field
 * manager `pod-identity-cli` (the kubeconfig comes from ../shared/kube-config.ts).
 * @module
 */
import { AZURE_IDENTITY, AZURE_IDENTITY_BINDING, GROUP, VERSION } from '../../api/names.ts';
import type { KubeAccess } from '../../kube/access.ts';
import { KUBE_COMPONENT } from '../../kube/client-identity.ts';
import { rawRequest } from '../../kube/raw-client.ts';
import type { KubeObject } from './manifests.ts';

export const FIELD_MANAGER = KUBE_COMPONENT.cli;

function pluralOf(kind: KubeObject['kind']): string {
  return kind === 'AzureIdentity' ? AZURE_IDENTITY.plural : AZURE_IDENTITY_BINDING.plural;
}

/** Server-side apply of one object (create or update); `force` takes over fields other managers own. */
export async function serverSideApply(kubeConfig: KubeAccess, object: KubeObject, signal?: AbortSignal): Promise<void> {
  await rawRequest(kubeConfig, {
    method: 'PATCH',
    path: `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(object.metadata.namespace)}/${pluralOf(object.kind)}/${encodeURIComponent(object.metadata.name)}`,
    query: { fieldManager: FIELD_MANAGER, force: true },
    contentType: 'application/apply-patch+yaml',
    body: object,
    ...(signal === undefined ? {} : { signal }),
  });
}
