/**
 * NMI's Prometheus metrics on a registry of their own. Upstream's names, help texts and label names
 * are kept exactly (`aadpodidentity_nmi_operations_duration_seconds`, `aadpodidentity_imds_operations_*`,
 * `aadpodidentity_kubernetes_api_operations_errors_count`), and every upstream bucket bound is one of
 * ours; our own metrics are `aadpodidentity_nmi_*`. Every label value is bounded: `operation_type` is
 * the route by default (upstream used the URL path, which any pod could make unbounded; `path` mode
 * offers it, capped, see {@link operationPathLabel}), `namespace` is a namespace of a pod on this node
 * or empty, and `resource` is a well-known audience or `other`.
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LabelledHistogram } from '../lib/labelled-histogram.ts';
import type { TokenCacheStats } from './tokens/token-cache.ts';

export type NmiOperation = 'token' | 'host_token' | 'proxy' | 'invalid_path' | 'instance_blocked';
export type ImdsOperation = 'adal_token_msi' | 'adal_token_msi_userassignedid' | 'adal_token';
/** `operation_type` of NMI operations: the route (bounded), or upstream's URL path (capped). */
export type OperationLabel = 'route' | 'path';

/** Upstream's bounds (0.5 … 100 s) with finer ones below: tokens take milliseconds. */
export const NMI_OPERATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100];
/** Upstream's buckets of IMDS token calls. */
export const IMDS_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 2, 3, 4, 5, 10];
/** Path mode: distinct paths kept as label values; later new ones count as {@link OTHER_PATH}. */
export const MAX_PATH_LABELS = 1000;
/** Path mode: longer paths are cut to this many characters. */
export const MAX_PATH_LABEL_LENGTH = 256;
export const OTHER_PATH = 'other';

/**
 * What upstream's `r.URL.Path` is for a request target: the path without the query, an absolute URL's
 * scheme and host dropped, percent-decoded (kept as sent when it does not decode).
 */
export function upstreamUrlPath(rawUrl: string): string {
  let target = rawUrl;
  const query = target.indexOf('?');
  if (query !== -1) target = target.slice(0, query);
  const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(target);
  if (absolute !== null) target = target.slice(absolute[0].length) || '/';
  try {
    return decodeURIComponent(target);
  } catch {
    return target;
  }
}

/** Audiences common enough to be worth a label value; anything else is `other`. */
const KNOWN_RESOURCES = new Set(
  [
    'https://management.azure.com',
    'https://management.core.windows.net',
    'https://vault.azure.net',
    'https://storage.azure.com',
    'https://graph.microsoft.com',
    'https://database.windows.net',
    'https://ossrdbms-aad.database.windows.net',
    'https://servicebus.azure.net',
    'https://eventhubs.azure.net',
    'https://monitor.azure.com',
    'https://cognitiveservices.azure.com',
    'https://management.chinacloudapi.cn',
    'https://management.usgovcloudapi.net',
  ].flatMap((resource) => [resource, `${resource}/`]),
);

export function resourceLabel(resource: string): string {
  // SDKs send the well-known audiences in lower case: no lower-cased copy per request for them.
  if (KNOWN_RESOURCES.has(resource)) return resource;
  return KNOWN_RESOURCES.has(resource.toLowerCase()) ? resource.toLowerCase() : resource === '' ? '' : 'other';
}

export interface NmiMetricsOptions {
  /** Node.js process metrics (default true). */
  readonly processMetrics?: boolean;
  readonly operationLabel?: OperationLabel;
}

export class NmiMetrics {
  readonly registry = new Registry();
  /** Observed once per request: not prom-client's Histogram, whose observe cost ~4 µs a token (labelled-histogram.ts). */
  private readonly operations: LabelledHistogram<'operation_type' | 'status_code' | 'namespace' | 'resource'>;
  private readonly imdsErrors: Counter;
  private readonly imdsDuration: Histogram;
  private readonly kubernetesErrors: Counter;
  private readonly decisions: Counter;
  private readonly iptablesRestores: Counter;
  private readonly iptablesErrors: Counter;
  private readonly operationLabel: OperationLabel;
  /** Path mode: the paths already in use as label values. */
  private readonly pathLabels = new Set<string>();

  /** The token cache's counters, read at each scrape; set once the cache exists ({@link reportTokenCache}). */
  private tokenCacheStats: (() => TokenCacheStats) | undefined;

  constructor(options: NmiMetricsOptions = {}) {
    const registers = [this.registry];
    this.operationLabel = options.operationLabel ?? 'route';
    // Help texts are upstream's (pkg/metrics/metrics.go), word for word.
    this.operations = new LabelledHistogram({
      name: 'aadpodidentity_nmi_operations_duration_seconds',
      help: 'Duration in seconds for nmi operations',
      labelNames: ['operation_type', 'status_code', 'namespace', 'resource'],
      buckets: NMI_OPERATION_BUCKETS,
      registers,
    });
    this.imdsErrors = new Counter({ name: 'aadpodidentity_imds_operations_errors_count', help: 'Total number of errors in imds token operations', labelNames: ['operation_type'], registers });
    this.imdsDuration = new Histogram({
      name: 'aadpodidentity_imds_operations_duration_seconds',
      help: 'Duration in seconds of imds token operations',
      labelNames: ['operation_type'],
      buckets: IMDS_BUCKETS,
      registers,
    });
    this.kubernetesErrors = new Counter({ name: 'aadpodidentity_kubernetes_api_operations_errors_count', help: 'Total number of errors in kubernetes api operations', labelNames: ['operation_type'], registers });
    this.decisions = new Counter({ name: 'aadpodidentity_nmi_token_requests_total', help: 'Token requests by outcome (issued, refused, error) and whether the token came from the cache', labelNames: ['outcome', 'cache'], registers });
    this.iptablesRestores = new Counter({ name: 'aadpodidentity_nmi_iptables_restores_total', help: 'Times the interception rules were found changed and restored', registers });
    this.iptablesErrors = new Counter({ name: 'aadpodidentity_nmi_iptables_errors_total', help: 'Failed iptables syncs (retried with backoff)', registers });
    const tokenCache: Gauge = new Gauge({
      name: 'aadpodidentity_nmi_token_cache',
      help: 'Token cache counters: hits, misses, coalesced misses, upstream calls, refreshes, evictions, invalidations, size',
      labelNames: ['counter'],
      registers,
      collect: () => {
        const stats = this.tokenCacheStats?.();
        if (stats === undefined) return;
        for (const [name, value] of Object.entries(stats) as [string, number][]) tokenCache.set({ counter: name }, value);
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Reports the token cache's counters from now on. A method rather than an option: the cache is built
   * after these metrics, which its upstream sources report to.
   */
  reportTokenCache(stats: () => TokenCacheStats): void {
    this.tokenCacheStats = stats;
  }

  /** One NMI operation; `rawUrl` (the request target as received) is read in path mode only. */
  observeRequest(operation: NmiOperation, status: number, seconds: number, namespace: string, resource: string, rawUrl = ''): void {
    const operationType = this.operationLabel === 'route' ? operation : this.pathLabel(rawUrl);
    this.operations.observe([operationType, String(status), namespace, resourceLabel(resource)], seconds);
  }

  /** Upstream's label (the URL path), within {@link MAX_PATH_LABELS} values of {@link MAX_PATH_LABEL_LENGTH} characters. */
  private pathLabel(rawUrl: string): string {
    let path = upstreamUrlPath(rawUrl).slice(0, MAX_PATH_LABEL_LENGTH);
    // A cut must not leave half a surrogate pair (it would not encode as UTF-8).
    if (/[\uD800-\uDBFF]$/.test(path)) path = path.slice(0, -1);
    if (this.pathLabels.has(path)) return path;
    if (this.pathLabels.size >= MAX_PATH_LABELS) return OTHER_PATH;
    this.pathLabels.add(path);
    return path;
  }

  observeDecision(outcome: 'issued' | 'refused' | 'error', cacheHit: boolean): void {
    this.decisions.inc({ outcome, cache: cacheHit ? 'hit' : 'miss' });
  }

  observeUpstream(operation: ImdsOperation, seconds: number, failed: boolean): void {
    this.imdsDuration.observe({ operation_type: operation }, seconds);
    if (failed) this.imdsErrors.inc({ operation_type: operation });
  }

  kubernetesError(operation: 'get_pod_list' | 'get_secret'): void {
    this.kubernetesErrors.inc({ operation_type: operation });
  }

  iptablesRestored(): void {
    this.iptablesRestores.inc();
  }

  iptablesFailed(): void {
    this.iptablesErrors.inc();
  }

  async render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
