/**
 * NMI's Prometheus metrics on a registry of their own. Upstream's names are kept exactly
 * (`aadpodidentity_nmi_operations_duration_seconds`, `aadpodidentity_imds_operations_*`,
 * `aadpodidentity_kubernetes_api_operations_errors_count`); ours are `aadpodidentity_nmi_*`. Every
 * label value is bounded: `operation_type` is the route (upstream used the raw URL path, which any pod
 * could make unbounded), `namespace` is a namespace of a pod on this node or empty, and `resource` is a
 * well-known audience or `other`.
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TokenCacheStats } from './token-cache.ts';

export type NmiOperation = 'token' | 'host_token' | 'proxy' | 'invalid_path' | 'instance_blocked';
export type ImdsOperation = 'adal_token_msi' | 'adal_token_msi_userassignedid' | 'adal_token';

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
  return KNOWN_RESOURCES.has(resource.toLowerCase()) ? resource.toLowerCase() : resource === '' ? '' : 'other';
}

export class NmiMetrics {
  readonly registry = new Registry();
  private readonly operations: Histogram;
  private readonly imdsErrors: Counter;
  private readonly imdsDuration: Histogram;
  private readonly kubernetesErrors: Counter;
  private readonly decisions: Counter;
  private readonly iptablesRestores: Counter;
  private readonly iptablesErrors: Counter;

  constructor(options: { readonly processMetrics?: boolean; readonly cacheStats?: () => TokenCacheStats } = {}) {
    const registers = [this.registry];
    this.operations = new Histogram({
      name: 'aadpodidentity_nmi_operations_duration_seconds',
      help: 'Duration in seconds of NMI operations',
      labelNames: ['operation_type', 'status_code', 'namespace', 'resource'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100],
      registers,
    });
    this.imdsErrors = new Counter({ name: 'aadpodidentity_imds_operations_errors_count', help: 'Total number of errors in imds operations', labelNames: ['operation_type'], registers });
    this.imdsDuration = new Histogram({
      name: 'aadpodidentity_imds_operations_duration_seconds',
      help: 'Duration in seconds of imds operations (upstream token calls)',
      labelNames: ['operation_type'],
      buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.kubernetesErrors = new Counter({ name: 'aadpodidentity_kubernetes_api_operations_errors_count', help: 'Total number of errors in kubernetes api operations', labelNames: ['operation_type'], registers });
    this.decisions = new Counter({ name: 'aadpodidentity_nmi_token_requests_total', help: 'Token requests by outcome (issued, refused, error) and whether the token came from the cache', labelNames: ['outcome', 'cache'], registers });
    this.iptablesRestores = new Counter({ name: 'aadpodidentity_nmi_iptables_restores_total', help: 'Times the interception rules were found changed and restored', registers });
    this.iptablesErrors = new Counter({ name: 'aadpodidentity_nmi_iptables_errors_total', help: 'Failed iptables syncs (retried with backoff)', registers });
    const cacheStats = options.cacheStats;
    new Gauge({
      name: 'aadpodidentity_nmi_token_cache',
      help: 'Token cache counters: hits, misses, coalesced misses, upstream calls, refreshes, evictions, invalidations, size',
      labelNames: ['counter'],
      registers,
      collect() {
        if (cacheStats === undefined) return;
        const stats = cacheStats();
        for (const [name, value] of Object.entries(stats) as [string, number][]) this.set({ counter: name }, value);
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  observeRequest(operation: NmiOperation, status: number, seconds: number, namespace: string, resource: string): void {
    this.operations.observe({ operation_type: operation, status_code: String(status), namespace, resource: resourceLabel(resource) }, seconds);
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
