/**
 * The probe endpoints both components serve on their own port: `/healthz` answers 200 always, with body
 * `Active` or `Not Active` (upstream's contract, which liveness probes and scripts rely on); `/readyz`
 * is 200 once ready and 503 before; `/livez` is 200 while the process answers. The app does not listen
 * (run it with an {@link HttpServer}).
 * @module
 */
import fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

export interface HealthState {
  /** `/healthz` says `Active` (MIC: leader with synced caches; NMI: interception rules installed). */
  isActive(): boolean;
  /** `/readyz` answers 200 (informer caches synced). */
  isReady(): boolean;
}

const TEXT = 'text/plain; charset=utf-8';

/** The probe endpoints, as an app that does not listen. */
export function buildHealthApp(health: HealthState, logger?: Logger): FastifyInstance {
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

