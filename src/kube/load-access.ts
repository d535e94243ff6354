/**
 * API server access for a component that must accept any kubeconfig (MIC): in-cluster configuration
 * and kubeconfigs with a token or a client certificate through the small loader of
 * ./lite-kubeconfig.ts, and through client-node's KubeConfig only what that loader refuses (exec
 * plugins, auth providers, proxies). client-node is loaded only then: its generated API is ~20 MB of
 * source text and cost MIC 31 MB of RSS at start (119 → 88 MB, measured with MIC's runtime flags).
 * @module
 */
import type { KubeAccess } from './access.ts';
import { loadKubeAccess, UnsupportedKubeconfigError, type LoadKubeAccessOptions } from './lite-kubeconfig.ts';

export async function loadAnyKubeAccess(options: LoadKubeAccessOptions = {}): Promise<KubeAccess> {
  try {
    return loadKubeAccess(options);
  } catch (error) {
    const file = options.kubeconfigPath;
    if (!(error instanceof UnsupportedKubeconfigError) || file === undefined) throw error;
    const [{ KubeConfig }, { accessFromKubeConfig }] = await Promise.all([import('@kubernetes/client-node'), import('./client-node-access.ts')]);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(file);
    if (options.context !== undefined) kubeConfig.setCurrentContext(options.context);
    return accessFromKubeConfig(kubeConfig);
  }
}
