/**
 * Upstream's one-time "type upgrade" bookkeeping (behaviour reference §2.10): the ConfigMap
 * `--config-map-name` in MIC's namespace records under `--type-upgrade-status-key` that objects were
 * migrated from the pre-1.6 PascalCase fields. pod-identity needs no rewrite — its readers accept both
 * casings and the CRDs keep legacy fields — so it only records the key when absent, so that an
 * upstream MIC started later (a rollback) does not rewrite every object either.
 * @module
 */
import type { KubeTarget } from '../kube/access.ts';
import { isStatus, rawRequest } from '../kube/raw-client.ts';

export interface TypeUpgradeOptions {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  readonly version: string;
}

/** Ensures the ConfigMap has the key; returns what it did. Never overwrites an existing value. */
export async function recordTypeUpgrade(kubeConfig: KubeTarget, options: TypeUpgradeOptions): Promise<'created' | 'updated' | 'present'> {
  const path = `/api/v1/namespaces/${options.namespace}/configmaps/${options.name}`;
  let current: { metadata?: { resourceVersion?: string }; data?: Record<string, string> };
  try {
    current = (await rawRequest(kubeConfig, { method: 'GET', path })) as typeof current;
  } catch (error) {
    if (!isStatus(error, 404)) throw new Error(`read ConfigMap ${options.namespace}/${options.name}`, { cause: error });
    await rawRequest(kubeConfig, {
      method: 'POST',
      path: `/api/v1/namespaces/${options.namespace}/configmaps`,
      body: { metadata: { name: options.name, namespace: options.namespace }, data: { [options.key]: options.version } },
    });
    return 'created';
  }
  if (current.data?.[options.key] !== undefined) return 'present';
  await rawRequest(kubeConfig, { method: 'PUT', path, body: { ...current, data: { ...(current.data ?? {}), [options.key]: options.version } } });
  return 'updated';
}
