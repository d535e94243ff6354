/**
 * A list-watch informer that survives what production throws at it: watch expiry (410 Gone → relist),
 * API server restarts and network errors (reconnect with backoff, forever, until stopped), and large
 * lists (paginated). Objects are projected on arrival into the small shapes the components need, so
 * 10,000 pods cost a few MB instead of the full objects. Handlers receive add/update/delete of the
 * projected objects; after a relist, objects that vanished meanwhile are reported as deleted.
 *
 * client-node's own ListWatch stops for good on the first non-410 error and stores the full objects,
 * which is why this exists; its `Watch` class is still used for the streaming part.
 * @module
 */
import type { Logger } from 'pino';
import { backoffDelay, type BackoffPolicy } from '../lib/backoff.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { describeError } from '../lib/errors.ts';
import type { KubeTarget } from './access.ts';
import { watchStream, WatchHttpError } from './watch.ts';

/** One page of a list call, as raw JSON objects. */
export interface ListPage {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  readonly continueToken?: string;
}

/** Where and how to list and watch one resource type. */
export interface ResourceSource {
  /** Watch path, e.g. `/api/v1/pods` or `/apis/aadpodidentity.k8s.io/v1/azureidentities`. */
  readonly path: string;
  /** Lists one page. */
  list(options: { limit: number; continueToken?: string; labelSelector?: string; fieldSelector?: string }): Promise<ListPage>;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

export type InformerEvent = 'add' | 'update' | 'delete';
export type InformerHandler<T> = (event: InformerEvent, object: T, old: T | undefined) => void;

export interface InformerOptions<T> {
  /** For logs and metrics, e.g. `pods`. */
  readonly name: string;
  readonly kubeConfig: KubeTarget;
  readonly source: ResourceSource;
  /** Raw object → the shape kept in the cache; undefined drops it (e.g. an invalid custom resource). */
  readonly project: (raw: unknown) => T | undefined;
  /** Cache key of a projected object, usually `namespace/name`. */
  readonly keyOf: (object: T) => string;
  /** Resource version of a projected object (to skip no-op updates). */
  readonly resourceVersionOf: (object: T) => string;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Page size of list calls (default 500). */
  readonly pageSize?: number;
  readonly backoff?: BackoffPolicy;
}

const DEFAULT_RECONNECT: BackoffPolicy = { baseMs: 500, maxMs: 30_000, jitter: 0.3 };

interface WatchEventObject {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

/** Raised inside the loop to force a relist (410 Gone, or a watch ERROR event). */
class RelistNeeded extends Error {}

export class Informer<T> {
  readonly name: string;
  private readonly options: InformerOptions<T>;
  private readonly clock: Clock;
  private readonly objects = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly syncWaiters: (() => void)[] = [];
  private lastFailure: unknown;
  private synced = false;
  private resourceVersion = '';
  private failures = 0;
  /** Relists and reconnects since start, for diagnostics and tests. */
  relists = 0;
  reconnects = 0;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
  }

  /** Registers a handler for cache changes (call before `run`). */
  onChange(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  /** The error of the last failed list or watch (cleared by a successful list), for callers' messages. */
  get lastError(): unknown {
    return this.lastFailure;
  }

  /** Whether the first full list has completed. */
  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first full list has completed (or when `signal` aborts). */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced || signal?.aborted === true) return Promise.resolve();
    return new Promise((resolve) => {
      this.syncWaiters.push(resolve);
      signal?.addEventListener('abort', () => { resolve(); }, { once: true });
    });
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  get size(): number {
    return this.objects.size;
  }

  /** Lists, then watches, forever; reconnects and relists as needed. Resolves once `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const logger = this.options.logger.child({ informer: this.name });
    // A function, because the abort happens while we await (TypeScript narrows a plain read).
    const stopped = (): boolean => signal.aborted;
    while (!stopped()) {
      try {
        if (this.resourceVersion === '') await this.relist(signal);
        await this.watchOnce(signal);
        this.reconnects++;
        // A watch that ended normally (server timeout) reconnects at once from the last version.
      } catch (error) {
        if (stopped()) break;
        if (error instanceof RelistNeeded) {
          logger.debug({ reason: error.message }, 'relisting');
          this.resourceVersion = '';
          continue;
        }
        this.failures++;
        this.lastFailure = error;
        const delay = backoffDelay(this.options.backoff ?? DEFAULT_RECONNECT, this.failures);
        logger.warn({ err: describeError(error), retryInMs: delay, failures: this.failures }, 'list/watch failed; retrying');
        await this.clock.sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const { source, keyOf } = this.options;
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion: string;
    do {
      if (signal.aborted) return;
      const page = await source.list({
        limit: this.options.pageSize ?? 500,
        ...(continueToken === undefined ? {} : { continueToken }),
        ...(source.labelSelector === undefined ? {} : { labelSelector: source.labelSelector }),
        ...(source.fieldSelector === undefined ? {} : { fieldSelector: source.fieldSelector }),
      });
      for (const raw of page.items) {
        const object = this.projectLogged(raw);
        if (object !== undefined) fresh.set(keyOf(object), object);
      }
      continueToken = page.continueToken;
      resourceVersion = page.resourceVersion;
    } while (continueToken !== undefined && continueToken !== '');

    for (const [key, old] of this.objects) {
      if (!fresh.has(key)) {
        this.objects.delete(key);
        this.emit('delete', old, old);
      }
    }
    for (const object of fresh.values()) this.upsert(object);
    this.resourceVersion = resourceVersion;
    this.relists++;
    this.failures = 0;
    this.lastFailure = undefined;
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private async watchOnce(signal: AbortSignal): Promise<void> {
    const { source } = this.options;
    if (signal.aborted) return;
    const query: Record<string, string | boolean> = { resourceVersion: this.resourceVersion, allowWatchBookmarks: true };
    if (source.labelSelector !== undefined) query['labelSelector'] = source.labelSelector;
    if (source.fieldSelector !== undefined) query['fieldSelector'] = source.fieldSelector;
    // One controller per watch: a RelistNeeded thrown by the handler ends this stream at once.
    const stream = new AbortController();
    const onAbort = (): void => {
      stream.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await watchStream(this.options.kubeConfig, source.path, query, (type, object) => {
        this.handleWatchEvent(type, object);
      }, stream.signal);
    } catch (error) {
      if (error instanceof WatchHttpError && error.statusCode === 410) throw new RelistNeeded('410 Gone');
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
      stream.abort();
    }
  }

  private handleWatchEvent(type: string, raw: unknown): void {
    const meta = raw as WatchEventObject;
    if (type === 'ERROR') {
      // 410 Expired / Gone: our resourceVersion is too old; anything else: start over to be safe.
      throw new RelistNeeded(`watch error ${meta.code ?? ''} ${meta.reason ?? ''}: ${meta.message ?? ''}`);
    }
    const version = meta.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (version !== undefined) this.resourceVersion = version;
      return;
    }
    const object = this.projectLogged(raw);
    if (object !== undefined) {
      if (type === 'DELETED') {
        const key = this.options.keyOf(object);
        const old = this.objects.get(key);
        this.objects.delete(key);
        this.emit('delete', old ?? object, old);
      } else {
        this.upsert(object);
      }
    } else if (type === 'MODIFIED' || type === 'DELETED') {
      // It became unreadable (e.g. an invalid edit): drop what we had under its key.
      const key = keyOfRaw(raw);
      const old = key === undefined ? undefined : this.objects.get(key);
      if (key !== undefined && old !== undefined) {
        this.objects.delete(key);
        this.emit('delete', old, old);
      }
    }
    if (version !== undefined) this.resourceVersion = version;
  }

  private upsert(object: T): void {
    const key = this.options.keyOf(object);
    const old = this.objects.get(key);
    if (old !== undefined && this.options.resourceVersionOf(old) === this.options.resourceVersionOf(object)) return;
    this.objects.set(key, object);
    this.emit(old === undefined ? 'add' : 'update', object, old);
  }

  private projectLogged(raw: unknown): T | undefined {
    try {
      return this.options.project(raw);
    } catch (error) {
      this.options.logger.warn({ informer: this.name, object: keyOfRaw(raw), err: describeError(error) }, 'ignoring object that cannot be read');
      return undefined;
    }
  }

  private emit(event: InformerEvent, object: T, old: T | undefined): void {
    for (const handler of this.handlers) {
      try {
        handler(event, object, old);
      } catch (error) {
        this.options.logger.error({ informer: this.name, err: describeError(error) }, 'informer handler failed');
      }
    }
  }
}

/** `namespace/name` (or `name`) of a raw object, if it has metadata. */
export function keyOfRaw(raw: unknown): string | undefined {
  const metadata = (raw as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  if (typeof metadata?.name !== 'string') return undefined;
  return typeof metadata.namespace === 'string' && metadata.namespace !== '' ? `${metadata.namespace}/${metadata.name}` : metadata.name;
}
