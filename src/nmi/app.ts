/**
 * NMI's fastify app: one catch-all route hands every request (any method, any path, exactly as
 * received) to {@link NmiHandler}, which owns the routing, and sends what it decides — JSON, or the
 * IMDS answer for proxied paths. Framework errors (malformed URLs, oversized bodies) are JSON too:
 * SDKs cannot parse anything else. The app does not listen; main runs it with an HttpServer.
 * @module
 */
import fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { describeError } from '../lib/errors.ts';
import type { NmiHandler } from './handler.ts';
import { ImdsProxyError, type ImdsProxy } from './proxy.ts';

export interface NmiAppOptions {
  readonly handler: NmiHandler;
  readonly proxy: ImdsProxy;
  /** This app listens on 127.0.0.1 and may serve /host/token. */
  readonly hostListener: boolean;
  readonly logger: Logger;
}

/** Request bodies are never needed by NMI itself; proxied ones are small. */
const BODY_LIMIT = 64 * 1024;
const JSON_TYPE = 'application/json; charset=utf-8';
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

function sendError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return reply.code(status).type(JSON_TYPE).send(JSON.stringify({ error, error_description: description }));
}

export function buildNmiApp(options: NmiAppOptions): FastifyInstance {
  const app = fastify({
    loggerInstance: options.logger,
    // One audit record per token is logged by the handler; per-request logs would double it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: true,
    return503OnClosing: true,
    frameworkErrors: (error, _request, reply) => {
      void sendError(reply, 400, 'invalid_request', `bad request: ${error.message}`);
    },
    // Requests Node's HTTP parser rejects (malformed request line or headers) get IMDS's JSON too.
    clientErrorHandler: (_error, socket) => {
      if (!socket.writable) return;
      const body = JSON.stringify({ error: 'invalid_request', error_description: 'malformed HTTP request' });
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\nConnection: close\r\n\r\n${body}`);
    },
  }) as unknown as FastifyInstance;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const abort = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableFinished) abort.abort(new Error('client went away'));
    };
    reply.raw.once('close', onClose);
    const rawUrl = request.raw.url ?? '/';
    const outcome = await options.handler.handle({
      method: request.method,
      rawUrl,
      headers: request.headers,
      remoteAddress: request.socket.remoteAddress ?? '',
      hostListener: options.hostListener,
      signal: abort.signal,
    });
    if (outcome.kind === 'json') {
      if (outcome.headers !== undefined) void reply.headers(outcome.headers);
      return reply.code(outcome.status).type(JSON_TYPE).send(JSON.stringify(outcome.body));
    }
    try {
      const proxied = await options.proxy.forward({
        method: request.method,
        rawUrl,
        headers: request.headers,
        body: Buffer.isBuffer(request.body) ? request.body : undefined,
        signal: abort.signal,
      });
      return await reply.code(proxied.status).headers(proxied.headers).send(proxied.body);
    } catch (error) {
      if (error instanceof ImdsProxyError) return sendError(reply, 502, 'bad_gateway', error.message);
      throw error;
    }
  };

  app.route({ method: METHODS, url: '*', handler: handle });
  app.setNotFoundHandler(handle);
  app.setErrorHandler((error, request, reply) => {
    const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
    if (status >= 500) request.log.error({ err: describeError(error) }, 'NMI request failed');
    return sendError(reply, status, status >= 500 ? 'internal_error' : 'invalid_request', status >= 500 ? 'internal error in NMI' : (error as Error).message);
  });
  return app;
}
