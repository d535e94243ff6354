/**
 * MIC's two listeners, each a {@link Runnable} that every replica runs (leader or not):
 *
 * - probes on `--http-probe-port`: `/healthz` answers 200 always, with body `Active` while this
 *   replica is the leader with synced caches and reconciling, else `Not Active` — upstream's contract,
 *   which liveness probes and scripts rely on; `/readyz` is 200 once ready (see {@link MicHealth})
 *   and 503 before; `/livez` is 200 while the process answers;
 * - `/metrics` on `--prometheus-port`.
 * @module
 */
import type { Logger } from 'pino';
import { buildHealthApp, type HealthState } from '../lib/health-app.ts';
import { HttpServer } from '../lib/http-server.ts';
import { buildMetricsApp, type MetricsSource } from '../lib/metrics-app.ts';
import type { ListenAddress } from './config.ts';

/** MIC's health: Active = leader with synced caches, reconciling; ready = caches synced. */
export type MicHealth = HealthState;

export { buildHealthApp };

export function micHealthServer(options: { readonly address: ListenAddress; readonly health: MicHealth; readonly logger?: Logger }): HttpServer {
  return new HttpServer({ name: 'health server', app: buildHealthApp(options.health, options.logger), ...options.address });
}

export function micMetricsServer(options: { readonly address: ListenAddress; readonly metrics: MetricsSource; readonly logger?: Logger }): HttpServer {
  return new HttpServer({ name: 'metrics server', app: buildMetricsApp(options.metrics, options.logger), ...options.address });
}
