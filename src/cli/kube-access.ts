/**
 * The CLI's access to the API server: a loaded kubeconfig (every auth method client-node supports)
 * whose requests say `pod-identity-cli/<version> …` and whose writes are managed by
 * `pod-identity-cli`, like MIC's and NMI's name theirs ({@link ../kube/client-identity.ts}).
 * @module
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeAccess } from '../kube/access.ts';
import { accessFromKubeConfig } from '../kube/client-node-access.ts';
import { identifiedAccess, KUBE_COMPONENT, kubeUserAgent } from '../kube/client-identity.ts';

/** The CLI's version (package.json's; a unit test keeps them equal). */
export const CLI_VERSION = '0.1.0';

export function cliKubeAccess(kubeConfig: KubeConfig): KubeAccess {
  return identifiedAccess(accessFromKubeConfig(kubeConfig), {
    userAgent: kubeUserAgent({ component: KUBE_COMPONENT.cli, version: CLI_VERSION }),
    fieldManager: KUBE_COMPONENT.cli,
  });
}
