/**
 * The kubeconfig of the CLI's Azure commands: `--kubeconfig`, else `KUBECONFIG` / `~/.kube/config`,
 * else in-cluster; `--context` picks a context. Problems are usage errors.
 * @module
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeAccess } from '../../kube/access.ts';
import { UsageError } from '../command.ts';
import { cliKubeAccess } from '../kube-access.ts';

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
