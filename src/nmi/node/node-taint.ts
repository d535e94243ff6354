/**
 * The opt-in startup taint (docs/nmi.md, "Fail-closed"): nodes register with a taint (kubelet
 * `--register-with-taints=aadpodidentity.k8s.io/nmi-not-ready=true:NoSchedule`), so no ordinary pod is
 * scheduled there before NMI intercepts its metadata traffic; NMI removes the taint from its own node
 * once its iptables rules are installed and its caches synced. Like Cilium's
 * `node.cilium.io/agent-not-ready`. Without `--not-ready-taint` NMI never reads or writes Node objects.
 * @module
 */
import type { Logger } from 'pino';
import type { KubeTarget } from '../../kube/access.ts';
import { rawRequest } from '../../kube/raw-client.ts';
import { backoffDelay, type BackoffPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { describeError } from '../../lib/errors.ts';
import { runnable, type Runnable } from '../../lib/lifecycle.ts';

export const DEFAULT_NOT_READY_TAINT = 'aadpodidentity.k8s.io/nmi-not-ready';

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: string;
  readonly timeAdded?: string;
}

// A qualified name: optional DNS-subdomain prefix and '/', then a name of ≤ 63 characters.
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** undefined when `key` is a valid taint key, else what it must be (for the flag check). */
export function checkTaintKey(key: string): string | undefined {
  if (key === '') return undefined;
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = key.slice(slash + 1);
  const ok = NAME.test(name) && name.length <= 63 && (prefix === undefined || (PREFIX.test(prefix) && prefix.length <= 253));
  return ok ? undefined : 'a taint key (a qualified name such as aadpodidentity.k8s.io/nmi-not-ready)';
}

/** The taints without every one with `key` (any value and effect); undefined when none had it. */
export function withoutTaint(taints: readonly Taint[], key: string): Taint[] | undefined {
  const rest = taints.filter((taint) => taint.key !== key);
  return rest.length === taints.length ? undefined : rest;
}

export interface RemoveTaintOptions {
  readonly kubeConfig: KubeTarget;
  readonly nodeName: string;
  readonly key: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly backoff?: BackoffPolicy;
}

/**
 * Removes the taint from the node, retrying (with backoff) until it is gone or `signal` aborts.
 * Read, then a JSON patch that first tests the taints it read: a concurrent change to the node's
 * taints (another controller) fails the patch instead of being overwritten, and the loop reads again.
 * Resolves `removed` or `absent` (the node never had it).
 */
export async function removeNodeTaint(options: RemoveTaintOptions, signal: AbortSignal): Promise<'removed' | 'absent'> {
  const clock = options.clock ?? systemClock;
  const path = `/api/v1/nodes/${encodeURIComponent(options.nodeName)}`;
  for (let failures = 0; ; ) {
    try {
      const node = (await rawRequest(options.kubeConfig, { method: 'GET', path, signal })) as { spec?: { taints?: Taint[] } };
      const taints = node.spec?.taints ?? [];
      const rest = withoutTaint(taints, options.key);
      if (rest === undefined) return 'absent';
      await rawRequest(options.kubeConfig, {
        method: 'PATCH',
        path,
        contentType: 'application/json-patch+json',
        body: [
          { op: 'test', path: '/spec/taints', value: taints },
          { op: 'replace', path: '/spec/taints', value: rest },
        ],
        signal,
      });
      return 'removed';
    } catch (error) {
      if (signal.aborted) throw error;
      failures++;
      const delay = backoffDelay(options.backoff ?? { baseMs: 500, maxMs: 15_000, jitter: 0.2 }, failures);
      options.logger.warn({ node: options.nodeName, taint: options.key, err: describeError(error), failures, retryInMs: delay }, 'removing the not-ready taint failed; retrying');
      await clock.sleep(delay, signal);
    }
  }
}

export interface StartupTaintOptions extends Omit<RemoveTaintOptions, 'backoff'> {
  /** Resolves once the interception rules are installed (at once without managed rules). */
  readonly installed: Promise<unknown>;
  /** Resolves once the informer caches synced. */
  readonly synced: (signal: AbortSignal) => Promise<void>;
}

/** Removes the startup taint once pods on this node are intercepted and can be answered, then idles until stopped. */
export function startupTaintRemoval(options: StartupTaintOptions): Runnable {
  const { logger, nodeName, key } = options;
  return runnable('not-ready taint', async (signal) => {
    const aborted = new Promise<void>((resolve) => { signal.addEventListener('abort', () => { resolve(); }, { once: true }); });
    await Promise.race([Promise.all([options.installed, options.synced(signal)]), aborted]);
    if (signal.aborted) return;
    const outcome = await removeNodeTaint(options, signal);
    logger.info({ node: nodeName, taint: key, outcome }, outcome === 'removed' ? 'not-ready taint removed: iptables rules installed and caches synced' : 'node has no not-ready taint');
    await aborted;
  });
}
