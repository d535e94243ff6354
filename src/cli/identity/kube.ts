/**
 * The Kubernetes side of the identity commands: the kubeconfig (`--kubeconfig`, else `KUBECONFIG` /
 * `~/.kube/config`, else in-cluster; `--context` picks a context) and server-side apply of our objects
 * with the field manager `pod-identity-cli`.
 * @module
 */
import { KubeConfig } from '@kubernetes/client-node';
import { AZURE_IDENTITY, AZURE_IDENTITY_BINDING, GROUP, VERSION } from '../../api/names.ts';
import type { KubeAccess } from '../../kube/access.ts';
import { KUBE_COMPONENT } from '../../kube/client-identity.ts';
import { rawRequest } from '../../kube/raw-client.ts';
import { UsageError } from '../command.ts';
import { cliKubeAccess } from '../kube-access.ts';
import type { KubeObject } from './manifests.ts';

export const FIELD_MANAGER = KUBE_COMPONENT.cli;

export function loadKubeConfig(file: string | undefined, context: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    if (file !== undefined) kubeConfig.loadFromFile(file);
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new UsageError(`cannot load kubeconfig ${file ?? '(default)'}: ${(error as Error).message}`, { cause: error });
  }
  if (context !== undefined) {
    if (kubeConfig.getContextObject(context) === null) {
      throw new UsageError(`--context ${JSON.stringify(context)}: no such context (have: ${kubeConfig.getContexts().map((entry) => entry.name).join(', ') || 'none'})`);
    }
    kubeConfig.setCurrentContext(context);
  }
  if (kubeConfig.getCurrentCluster() === null) throw new UsageError('the kubeconfig has no current cluster (give --kubeconfig or --context)');
  return kubeConfig;
}

/** {@link loadKubeConfig} as the CLI's access (its User-Agent and field manager). */
export function loadCliKubeAccess(file: string | undefined, context: string | undefined): KubeAccess {
  return cliKubeAccess(loadKubeConfig(file, context));
}

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
