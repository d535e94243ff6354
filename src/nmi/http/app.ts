/**
 * NMI's fastify app: one catch-all route hands every request (any method, any path, exactly as
 * received) to {@link NmiHandler}, which owns the routing, and sends what it decides — JSON, or the
 * IMDS answer for proxied paths. Framework errors (malformed URLs, oversized bodies) are JSON too,
 * with the same body as every other error (imds-errors.ts): SDKs cannot parse anything else. The app
 * does not listen; main runs it with an HttpServer.
 * @module
 */
import fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { nodeHttp } from '../../lib/node-http.ts';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { describeError } from '../../lib/errors.ts';
import type { NmiHandler } from './handler.ts';
import {
  badRequest,
  clientError,
  connectNotSupported,
  frameworkFailure,
  hostHeaderRequired,
  imdsErrorBody,
  proxyFailed,
  type ImdsError,
} from './imds-errors.ts';
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
/**
 * A request (headers and body) must arrive within this; fastify's default is no limit, so a pod that
 * declares a body and never sends it held a connection (and a file descriptor) for ever. Checked every
 * second (Node's default: every 30 s).
 */
export const REQUEST_TIMEOUT_MS = 10_000;
/** `request.query` of every request: NMI never reads it. */
const NO_QUERY: Readonly<Record<string, unknown>> = Object.freeze({});
/** The path SDKs send: a route of its own is found faster than the catch-all (same handler). */
const TOKEN_PATH = '/metadata/identity/oauth2/token';

/** The error for what Node's HTTP server reports before NMI sees a request. */
export function clientErrorAnswer(code: string | undefined): ImdsError {
  return clientError(code, REQUEST_TIMEOUT_MS);
}

/** A complete HTTP/1.1 error answer written straight to a socket (parser errors, CONNECT). */
export function rawErrorResponse(error: ImdsError): string {
  const body = JSON.stringify(imdsErrorBody(error));
  return `HTTP/1.1 ${String(error.status)} ${nodeHttp.STATUS_CODES[error.status] ?? ''}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * After a request with Upgrade, Node parses nothing more on the connection (NMI never upgrades): a
 * request pipelined behind it waited unanswered until the keep-alive timeout. Close after the answer.
 */
function closeAfterUpgrade(request: FastifyRequest, reply: FastifyReply): void {
  if (request.headers.upgrade !== undefined) void reply.header('connection', 'close');
}

function sendError(reply: FastifyReply, error: ImdsError): FastifyReply {
  return reply.code(error.status).type(JSON_TYPE).send(JSON.stringify(imdsErrorBody(error)));
}

export function buildNmiApp(options: NmiAppOptions): FastifyInstance {
  const app = fastify({
    loggerInstance: options.logger,
    // One audit record per token is logged by the handler; per-request logs would double it.
    logController: new LogController({ disableRequestLogging: true }),
    // fastify's own records (framework errors) go to NMI's logger as they are: the default made a pino
    // child with a request id for every request, 1 % of NMI's CPU under load (perf, 9,000 tokens/s).
    childLoggerFactory: (logger) => logger,
    // The handler reads the raw URL (routes.ts, token-request.ts); fastify's parse of the query was unused.
    routerOptions: { querystringParser: () => NO_QUERY },
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: true,
    return503OnClosing: true,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Host is checked by NMI (a JSON 400), not by Node, whose 400 has an empty body.
    http: { requireHostHeader: false, connectionsCheckingInterval: 1_000, headersTimeout: REQUEST_TIMEOUT_MS },
    frameworkErrors: (error, request, reply) => {
      closeAfterUpgrade(request, reply);
      void sendError(reply, badRequest(error.message));
    },
    // Requests Node's HTTP server rejects (malformed request line or headers, too large, too slow) get IMDS's JSON too.
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return;
      socket.end(rawErrorResponse(clientErrorAnswer((error as NodeJS.ErrnoException).code)));
    },
  }) as unknown as FastifyInstance;
  // Without a listener Node destroys a CONNECT request's socket without a word; NMI is no proxy.
  app.server.on('connect', (_request: unknown, socket: Duplex) => {
    if (socket.writable) socket.end(rawErrorResponse(connectNotSupported()));
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const abort = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableFinished) abort.abort(new Error('client went away'));
    };
    // `on`, not `once`: 'close' comes once, and `once` wraps the listener in two more objects per request.
    reply.raw.on('close', onClose);
    closeAfterUpgrade(request, reply);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) return sendError(reply, hostHeaderRequired());
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
      return reply.code(outcome.status).type(JSON_TYPE).send(outcome.json ?? JSON.stringify(outcome.body));
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
      if (error instanceof ImdsProxyError) return sendError(reply, proxyFailed(error.status, error.message));
      throw error;
    }
  };

  app.route({ method: 'GET', url: TOKEN_PATH, exposeHeadRoute: false, handler: handle });
  app.route({ method: METHODS, url: '*', handler: handle });
  app.setNotFoundHandler(handle);
  app.setErrorHandler((error, request, reply) => {
    const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
    if (status >= 500) request.log.error({ err: describeError(error) }, 'NMI request failed');
    closeAfterUpgrade(request, reply);
    return sendError(reply, frameworkFailure(status, (error as Error).message));
  });
  return app;
}
