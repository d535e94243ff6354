/**
 * The Secrets that service-principal identities reference, each watched on its own (a list-watch with
 * `fieldSelector=metadata.name=<name>` in its namespace), started on first use. The watch's cache is
 * the reader — no GET per token — and a change or deletion tells the token cache to drop the
 * identity's tokens. NMI never lists Secrets it does not need: nothing else is held in memory.
 * @module
 */
import type { Logger } from 'pino';
import type { KubeTarget } from '../../kube/access.ts';
import type { SecretData } from '../../azure/service-principal.ts';
import type { Clock } from '../../lib/clock.ts';
import { describeError, PodIdentityError } from '../../lib/errors.ts';
import { LruMap } from '../../lib/lru-map.ts';
import { Informer } from '../../kube/informer.ts';
import { isStatus, rawLister } from '../../kube/raw-client.ts';

interface WatchedSecret {
  readonly name: string;
  readonly resourceVersion: string;
  readonly data: SecretData | undefined;
}

interface Watch {
  readonly informer: Informer<WatchedSecret>;
  readonly stop: AbortController;
}

export class SecretReadError extends PodIdentityError {}

export interface SecretWatchOptions {
  readonly kubeConfig: KubeTarget;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Most Secrets watched at once; the least recently used watch stops beyond it. Default 256. */
  readonly maxWatches?: number;
  /** How long a first read waits for the watch to sync. Default 10 s. */
  readonly syncTimeoutMs?: number;
}

/** Told when a watched Secret changed or was deleted (not on its first sight). */
export type SecretChangeListener = (namespace: string, name: string) => void;

export class SecretWatch {
  private readonly options: SecretWatchOptions;
  /** At most `maxWatches` (default 256); the least recently read is stopped beyond. */
  private readonly watches: LruMap<string, Watch>;
  private readonly stopAll = new AbortController();
  private readonly listeners: SecretChangeListener[] = [];

  constructor(options: SecretWatchOptions) {
    this.options = options;
    this.watches = new LruMap(options.maxWatches ?? 256, (_key, watch) => {
      watch.stop.abort();
    });
  }

  /**
   * Adds a listener. A method rather than an option: what a change invalidates (the token service) is
   * built after the sources that read Secrets through this watch.
   */
  onChange(listener: SecretChangeListener): void {
    this.listeners.push(listener);
  }

  /** The data of Secret `namespace/name` (base64 values, as the API returns them). */
  async read(namespace: string, name: string, signal?: AbortSignal): Promise<SecretData> {
    if (this.stopAll.signal.aborted) throw new SecretReadError('PI_SECRET', `cannot read secret ${namespace}/${name}: NMI is stopping`);
    const key = `${namespace}/${name}`;
    const watch = this.watches.get(key) ?? this.start(namespace, name);
    const timeout = AbortSignal.timeout(this.options.syncTimeoutMs ?? 10_000);
    // A watch that already failed (e.g. forbidden) answers at once instead of waiting the timeout again.
    if (watch.informer.lastError === undefined) await watch.informer.waitForSync(signal === undefined ? timeout : AbortSignal.any([signal, timeout]));
    if (!watch.informer.hasSynced) {
      // Forbidden (Secret access scoped to other namespaces), or the API server is unreachable.
      const failure = watch.informer.lastError;
      const reason = failure === undefined ? 'no answer from the API server' : isStatus(failure, 403) ? `forbidden: NMI may not read Secrets in namespace ${namespace} (chart value rbac.secretNamespaces)` : describeError(failure);
      throw new SecretReadError('PI_SECRET', `cannot read secret ${namespace}/${name}: ${reason}`, failure === undefined ? undefined : { cause: failure });
    }
    const secret = watch.informer.get(name);
    if (secret === undefined) throw new SecretReadError('PI_SECRET', `secret ${namespace}/${name} not found`);
    if (secret.data === undefined) throw new SecretReadError('PI_SECRET', `secret ${namespace}/${name} has no data`);
    return secret.data;
  }

  /** Stops every watch. */
  close(): void {
    this.stopAll.abort();
    for (const [, watch] of this.watches) watch.stop.abort();
    this.watches.clear();
  }

  get size(): number {
    return this.watches.size;
  }

  private start(namespace: string, name: string): Watch {
    const { kubeConfig, logger } = this.options;
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
    const informer = new Informer<WatchedSecret>({
      name: `secret ${namespace}/${name}`,
      kubeConfig,
      logger,
      ...(this.options.clock === undefined ? {} : { clock: this.options.clock }),
      source: { path, list: rawLister(kubeConfig, path), fieldSelector: `metadata.name=${name}` },
      project: (raw) => {
        const secret = raw as { metadata?: { name?: string; resourceVersion?: string }; data?: Record<string, string> };
        if (secret.metadata?.name === undefined) return undefined;
        return { name: secret.metadata.name, resourceVersion: secret.metadata.resourceVersion ?? '', data: secret.data };
      },
      keyOf: (secret) => secret.name,
      resourceVersionOf: (secret) => secret.resourceVersion,
    });
    informer.onChange((event) => {
      if (event === 'add') return;
      for (const listener of this.listeners) listener(namespace, name);
    });
    const stop = new AbortController();
    const watch: Watch = { informer, stop };
    const key = `${namespace}/${name}`;
    this.watches.set(key, watch);
    void informer.run(AbortSignal.any([stop.signal, this.stopAll.signal])).catch((error: unknown) => {
      logger.warn({ secret: key, err: String(error) }, 'secret watch stopped');
    });
    return watch;
  }
}
