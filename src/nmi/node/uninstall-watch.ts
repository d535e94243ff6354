/**
 * Knows when NMI is being uninstalled rather than restarted: it watches its own DaemonSet (by name, in
 * its namespace) and reports once the DaemonSet it has seen is deleted. NMI then removes its iptables
 * rules when it stops, which it otherwise never does (fail-closed across restarts and upgrades). This
 * covers `helm uninstall` and `kubectl delete -f` alike, without a hook that must reach every node.
 * @module
 */
import type { Logger } from 'pino';
import type { KubeTarget } from '../../kube/access.ts';
import type { Clock } from '../../lib/clock.ts';
import { Informer } from '../../kube/informer.ts';
import { rawLister } from '../../kube/raw-client.ts';

export interface UninstallWatchOptions {
  readonly kubeConfig: KubeTarget;
  readonly namespace: string;
  readonly daemonSet: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly onUninstall: () => void;
}

/** A list-watch of one DaemonSet; `run` until the signal aborts. */
export function uninstallWatch(options: UninstallWatchOptions): Informer<{ name: string; resourceVersion: string }> {
  const path = `/apis/apps/v1/namespaces/${encodeURIComponent(options.namespace)}/daemonsets`;
  const informer = new Informer<{ name: string; resourceVersion: string }>({
    name: `daemonset ${options.namespace}/${options.daemonSet}`,
    kubeConfig: options.kubeConfig,
    logger: options.logger,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    source: { path, list: rawLister(options.kubeConfig, path), fieldSelector: `metadata.name=${options.daemonSet}` },
    project: (raw) => {
      const metadata = (raw as { metadata?: { name?: string; resourceVersion?: string; deletionTimestamp?: string } }).metadata;
      // A DaemonSet being deleted with foreground propagation still exists, with a deletion timestamp.
      if (metadata?.name === undefined || metadata.deletionTimestamp !== undefined) return undefined;
      return { name: metadata.name, resourceVersion: metadata.resourceVersion ?? '' };
    },
    keyOf: (object) => object.name,
    resourceVersionOf: (object) => object.resourceVersion,
  });
  let seen = false;
  informer.onChange((event) => {
    if (event !== 'delete') {
      seen = true;
      return;
    }
    if (!seen) return;
    options.logger.warn({ daemonSet: `${options.namespace}/${options.daemonSet}` }, 'NMI DaemonSet deleted: the iptables rules will be removed when NMI stops (uninstall)');
    options.onUninstall();
  });
  return informer;
}
