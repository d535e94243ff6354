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
import fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { HttpServer } from '../lib/http-server.ts';
import { buildMetricsApp, type MetricsSource } from '../lib/metrics-app.ts';
import type { ListenAddress } from './config.ts';

export interface MicHealth {
  /** Leader with synced caches, reconciling: `/healthz` says `Active`. */
  isActive(): boolean;
  /** Informer caches synced: `/readyz` answers 200. */
  isReady(): boolean;
}

const TEXT = 'text/plain; charset=utf-8';

/** The probe endpoints; the app does not listen (see {@link micHealthServer}). */
export function buildHealthApp(health: MicHealth, logger?: Logger): FastifyInstance {
  const app = fastify({
    ...(logger === undefined ? {} : { loggerInstance: logger }),
    // kubelet probes every few seconds would drown the log.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  app.get('/healthz', async (_request, reply) => reply.type(TEXT).send(health.isActive() ? 'Active' : 'Not Active'));
  app.get('/readyz', async (_request, reply) => (health.isReady() ? reply.type(TEXT).send('ok') : reply.code(503).type(TEXT).send('not ready')));
  app.get('/livez', async (_request, reply) => reply.type(TEXT).send('ok'));
  return app;
}

export function micHealthServer(options: { readonly address: ListenAddress; readonly health: MicHealth; readonly logger?: Logger }): HttpServer {
  return new HttpServer({ name: 'health server', app: buildHealthApp(options.health, options.logger), ...options.address });
}

export function micMetricsServer(options: { readonly address: ListenAddress; readonly metrics: MetricsSource; readonly logger?: Logger }): HttpServer {
  return new HttpServer({ name: 'metrics server', app: buildMetricsApp(options.metrics, options.logger), ...options.address });
}
