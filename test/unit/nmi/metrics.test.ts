/**
 * NMI's metrics: upstream's names, help texts, types, label names and bucket bounds (from
 * aad-pod-identity's pkg/metrics/metrics.go, copied below), and label values that stay within a small
 * fixed set however odd the requests — driven through NMI's real app with the fuzzer's request grammar.
 * `--metrics-operation-type=path` gives upstream's URL-path values, capped.
 */
import { KubeConfig } from '@kubernetes/client-node';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/lib/clock.ts';
import { KeyedWaiter } from '../../../src/lib/keyed-waiter.ts';
import { buildNmiApp } from '../../../src/nmi/http/app.ts';
import { NmiHandler } from '../../../src/nmi/http/handler.ts';
import { IdentityFinder } from '../../../src/nmi/identity/identity-finder.ts';
import { createNmiInformers } from '../../../src/nmi/identity/informers.ts';
import { KeyedRateLimiter } from '../../../src/nmi/limits.ts';
import {
  IMDS_BUCKETS,
  MAX_PATH_LABEL_LENGTH,
  MAX_PATH_LABELS,
  NMI_OPERATION_BUCKETS,
  NmiMetrics,
  OTHER_PATH,
  resourceLabel,
  upstreamUrlPath,
  type OperationLabel,
} from '../../../src/nmi/metrics.ts';
import { NodeView } from '../../../src/nmi/identity/node-view.ts';
import { ImdsProxy } from '../../../src/nmi/http/proxy.ts';
import { IMDS_IDENTITIES } from '../../../src/nmi/tokens/imds-source.ts';
import { SERVICE_PRINCIPAL_IDENTITIES } from '../../../src/nmi/tokens/service-principal-source.ts';
import { CachingTokenSource } from '../../../src/nmi/tokens/token-cache.ts';
import { TokenService } from '../../../src/nmi/tokens/token-service.ts';
import { route, UpstreamRouter } from '../../../src/nmi/tokens/upstream-router.ts';
import { requestTargetArb } from '../../reliability/nmi-fuzz-grammar.ts';

/**
 * Upstream's NMI metrics (aad-pod-identity v1.8, pkg/metrics/metrics.go): OpenCensus views exported
 * under the namespace `aadpodidentity`; Count views become counters, Distribution views histograms.
 */
const UPSTREAM = [
  { name: 'aadpodidentity_nmi_operations_duration_seconds', help: 'Duration in seconds for nmi operations', type: 'histogram', labels: ['operation_type', 'status_code', 'namespace', 'resource'], buckets: [0.5, 1, 2, 3, 4, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100] },
  { name: 'aadpodidentity_imds_operations_errors_count', help: 'Total number of errors in imds token operations', type: 'counter', labels: ['operation_type'] },
  { name: 'aadpodidentity_imds_operations_duration_seconds', help: 'Duration in seconds of imds token operations', type: 'histogram', labels: ['operation_type'], buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 2, 3, 4, 5, 10] },
  { name: 'aadpodidentity_kubernetes_api_operations_errors_count', help: 'Total number of errors in kubernetes api operations', type: 'counter', labels: ['operation_type'] },
] as const;

const ROUTES = ['token', 'host_token', 'proxy', 'invalid_path', 'instance_blocked'];

function metricsApp(operationLabel: OperationLabel): { app: ReturnType<typeof buildNmiApp>; metrics: NmiMetrics } {
  const logger = pino({ level: 'silent' });
  const informers = createNmiInformers(new KubeConfig(), logger, { nodeName: 'n', mode: 'standard', watchNodeAssignmentsOnly: true });
  const view = new NodeView(informers);
  const fail = (): Promise<never> => Promise.reject(new Error('no upstream in this test'));
  const upstreams = new UpstreamRouter([route(IMDS_IDENTITIES, { getToken: fail }), route(SERVICE_PRINCIPAL_IDENTITIES, { getToken: fail })]);
  const metrics = new NmiMetrics({ processMetrics: false, operationLabel });
  const handler = new NmiHandler({
    view,
    addresses: new KeyedWaiter(systemClock),
    finder: new IdentityFinder(view, new KeyedWaiter(systemClock), { mode: 'standard', namespaced: false, micNamespace: 'default', retryAttemptsForCreated: 1, retryAttemptsForAssigned: 0, retryIntervalMs: 0, clock: systemClock }),
    tokens: new TokenService({ cache: new CachingTokenSource(upstreams), upstreams }),
    perPod: new KeyedRateLimiter({ ratePerSec: 1_000_000, burst: 1_000_000 }),
    metrics,
    logger,
    clock: systemClock,
    options: { nodeName: 'n', metadataHeaderRequired: true, blockInstanceMetadata: true, retryAfterSeconds: undefined, podLookup: { attempts: 1, intervalMs: 0 } },
  });
  // Port 9 on loopback: nothing listens, so proxying fails fast.
  return { app: buildNmiApp({ handler, proxy: new ImdsProxy({ metadataIp: '127.0.0.1', metadataPort: 9, timeoutMs: 1_000 }), hostListener: true, logger }), metrics };
}

/** The label sets of a metric's series (histograms: one per `_count` sample). */
async function seriesOf(metrics: NmiMetrics, name: string): Promise<Record<string, string>[]> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`${name} is not registered`);
  const { values } = await metric.get();
  // Histograms report _bucket, _sum and _count samples (with metricName); one _count per series.
  return (values as { labels: Record<string, string | number>; metricName?: string }[])
    .filter((value) => value.metricName === undefined || value.metricName === `${name}_count`)
    .map((value) => Object.fromEntries(Object.entries(value.labels).map(([key, label]) => [key, String(label)])));
}

const distinct = (series: Record<string, string>[], label: string): Set<string> => new Set(series.map((entry) => entry[label] ?? ''));

/** Drives `runs` requests of the fuzzer's grammar (fixed seed) through the app; returns how many were answered. */
async function fuzz(app: ReturnType<typeof buildNmiApp>, runs: number, seed: number): Promise<number> {
  const ids = { clientIds: ['00000000-0000-4000-8000-000000000001'], resourceIds: ['/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x'], objectIds: ['00000000-0000-4000-8000-000000000002'] };
  const sources = ['127.0.0.1', '10.244.1.5', '10.244.2.7', '::1'];
  let answered = 0;
  for (const [index, request] of fc.sample(requestTargetArb(ids), { numRuns: runs, seed }).entries()) {
    try {
      await app.inject({ method: request.method as 'GET', url: request.target, headers: { metadata: 'true' }, remoteAddress: sources[index % sources.length] ?? '127.0.0.1' });
      answered++;
    } catch {
      // The injector cannot build every request the grammar makes (bad methods, some URLs); sockets are the reliability suite's.
    }
  }
  return answered;
}

describe('NMI metrics against upstream', () => {
  it('has upstream’s names, help texts, types and label names', async () => {
    const text = await new NmiMetrics({ processMetrics: false }).render();
    for (const metric of UPSTREAM) {
      expect(text, metric.name).toContain(`# HELP ${metric.name} ${metric.help}\n`);
      expect(text, metric.name).toContain(`# TYPE ${metric.name} ${metric.type}\n`);
    }
    const metrics = new NmiMetrics({ processMetrics: false });
    metrics.observeRequest('token', 200, 0.01, 'default', 'https://vault.azure.net');
    metrics.observeUpstream('adal_token_msi', 0.05, true);
    metrics.kubernetesError('get_pod_list');
    for (const metric of UPSTREAM) {
      const series = await seriesOf(metrics, metric.name);
      expect(series.length, metric.name).toBeGreaterThan(0);
      for (const labels of series) expect(Object.keys(labels).filter((key) => key !== 'le').sort(), metric.name).toEqual([...metric.labels].sort());
    }
  });

  it('keeps every upstream bucket bound (queries on le keep working) and finer ones below', () => {
    const [operations, , imds] = UPSTREAM;
    for (const bound of operations.buckets) expect(NMI_OPERATION_BUCKETS).toContain(bound);
    expect(NMI_OPERATION_BUCKETS[0]).toBeLessThan(0.001);
    expect(IMDS_BUCKETS).toEqual(imds.buckets);
  });

  it('uses upstream’s operation_type values for IMDS and Kubernetes errors', async () => {
    const metrics = new NmiMetrics({ processMetrics: false });
    for (const operation of ['adal_token_msi', 'adal_token_msi_userassignedid', 'adal_token'] as const) metrics.observeUpstream(operation, 0.1, true);
    metrics.kubernetesError('get_pod_list');
    metrics.kubernetesError('get_secret');
    expect(distinct(await seriesOf(metrics, 'aadpodidentity_imds_operations_errors_count'), 'operation_type')).toEqual(new Set(['adal_token_msi', 'adal_token_msi_userassignedid', 'adal_token']));
    expect(distinct(await seriesOf(metrics, 'aadpodidentity_kubernetes_api_operations_errors_count'), 'operation_type')).toEqual(new Set(['get_pod_list', 'get_secret']));
  });
});

describe('label values under the fuzzer’s requests', () => {
  it('route mode (default): every label of the operations metric stays within a small fixed set (3,000 requests)', async () => {
    const { app, metrics } = metricsApp('route');
    const answered = await fuzz(app, 3_000, 14);
    expect(answered).toBeGreaterThan(2_000);
    const series = await seriesOf(metrics, 'aadpodidentity_nmi_operations_duration_seconds');
    const operations = distinct(series, 'operation_type');
    for (const operation of operations) expect(ROUTES).toContain(operation);
    // The grammar reaches every route.
    expect(operations.size).toBe(ROUTES.length);
    expect(distinct(series, 'status_code').size).toBeLessThanOrEqual(12);
    for (const status of distinct(series, 'status_code')) expect(status).toMatch(/^[1-5]\d\d$/);
    // No pod lives at these addresses, so no namespace; resources: known audiences, "other" or none.
    expect(distinct(series, 'namespace')).toEqual(new Set(['']));
    for (const resource of distinct(series, 'resource')) expect(resource === '' || resource === 'other' || resourceLabel(resource) === resource).toBe(true);
    expect(distinct(series, 'resource').size).toBeLessThanOrEqual(28);
    expect(series.length).toBeLessThanOrEqual(ROUTES.length * 12 * 28);
    await app.close();
  }, 60_000);

  it('path mode: upstream’s URL path, at most 1000 values of at most 256 characters; later new paths count as "other"', async () => {
    const { app, metrics } = metricsApp('path');
    expect(await fuzz(app, 1_500, 15)).toBeGreaterThan(1_000);
    for (let index = 0; index < MAX_PATH_LABELS + 200; index++) {
      await app.inject({ method: 'GET', url: `/metadata/p${String(index)}`, headers: { metadata: 'true' } });
    }
    const operations = distinct(await seriesOf(metrics, 'aadpodidentity_nmi_operations_duration_seconds'), 'operation_type');
    expect(operations.size).toBe(MAX_PATH_LABELS + 1);
    expect(operations.has(OTHER_PATH)).toBe(true);
    for (const operation of operations) expect(operation.length).toBeLessThanOrEqual(MAX_PATH_LABEL_LENGTH);
    await app.close();
  }, 60_000);

  it('path mode: the values upstream’s dashboards key on (r.URL.Path: no query, decoded)', async () => {
    const { app, metrics } = metricsApp('path');
    for (const url of ['/metadata/identity/oauth2/token?resource=https://vault.azure.net&api-version=2018-02-01', '/host/token/?resource=x', '/metadata/instance?api-version=2021-02-01', '/metadata/identity%2Foauth2/token']) {
      await app.inject({ method: 'GET', url, headers: { metadata: 'true' } });
    }
    const series = await seriesOf(metrics, 'aadpodidentity_nmi_operations_duration_seconds');
    expect(distinct(series, 'operation_type')).toEqual(new Set(['/metadata/identity/oauth2/token', '/host/token/', '/metadata/instance']));
    await app.close();
  });
});

describe('upstreamUrlPath', () => {
  it.each([
    ['/metadata/identity/oauth2/token?resource=x', '/metadata/identity/oauth2/token'],
    ['http://169.254.169.254/metadata/instance?api-version=1', '/metadata/instance'],
    ['http://169.254.169.254', '/'],
    ['/a%20b/%2F', '/a b//'],
    ['/bad%zz', '/bad%zz'],
    ['/%C0%AF', '/%C0%AF'],
    ['*', '*'],
  ])('%s → %s', (raw, path) => {
    expect(upstreamUrlPath(raw)).toBe(path);
  });
});
