/**
 * The Prometheus scrape endpoint, `GET /metrics`, as a fastify app that does not listen (run it with
 * an {@link HttpServer}). Takes anything that renders the text exposition, e.g. MIC's or NMI's
 * metrics object over its own registry.
 * @module
 */
import fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

/** What the endpoint serves. */
export interface MetricsSource {
  render(): Promise<string>;
  readonly contentType: string;
}

export function buildMetricsApp(metrics: MetricsSource, logger?: Logger): FastifyInstance {
  const app = fastify({
    ...(logger === undefined ? {} : { loggerInstance: logger }),
    // Scrapes every few seconds would drown the log.
    logController: new LogController({ disableRequestLogging: true }),
    // Keep-alive scrapers must not hold up shutdown.
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.render();
    return reply.type(metrics.contentType).send(body);
  });
  return app;
}
