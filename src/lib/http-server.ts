/**
 * A fastify app as a {@link Runnable}: `run(signal)` listens, serves until the signal aborts, then
 * closes and resolves. Apps are built elsewhere and never listen themselves, so tests can use
 * `app.inject()`; port 0 picks a free port, and {@link HttpServer.listening} tells which.
 * @module
 */
import { Server as NetServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Runnable } from './lifecycle.ts';

export interface HttpServerOptions {
  /** Runnable name, used in logs and errors ("health server"). */
  readonly name: string;
  readonly app: FastifyInstance;
  /** IP address to listen on; empty for every interface (see {@link allInterfacesHost}). */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** SO_REUSEPORT: another process may listen on the same address and port (NMI's handover). */
  readonly reusePort?: boolean;
  /**
   * On stop, first stop accepting, answer what the open connections still ask (each answer with
   * `Connection: close`) until none is left or this many ms passed, then close the rest. Without it
   * a stop cuts requests in flight and connections accepted a moment before; with a successor on the
   * same port (SO_REUSEPORT) new connections already go to the successor, so a drained stop cuts none.
   */
  readonly drainMs?: number;
}

export interface BoundAddress {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` (IPv6 hosts bracketed), for logs and tests. */
  readonly url: string;
}

/**
 * What "every interface" means here: `::` (IPv6 and, dual-stack, IPv4) where the host has IPv6,
 * else `0.0.0.0` — what Go's `:port` and Node's own default do. Nodes with IPv6 disabled in the
 * kernel cannot bind `::` at all.
 */
export function allInterfacesHost(interfaces = networkInterfaces()): string {
  const hasIpv6 = Object.values(interfaces).some((addresses) => addresses?.some((address) => address.family === 'IPv6') === true);
  return hasIpv6 ? '::' : '0.0.0.0';
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    signal.addEventListener(
      'abort',
      () => {
        resolve();
      },
      { once: true },
    );
  });
}

/** Runs once: an app cannot listen again after it was closed. */
export class HttpServer implements Runnable {
  readonly name: string;
  readonly needsLeader = false;
  private readonly options: HttpServerOptions;
  private readonly bound = Promise.withResolvers<BoundAddress>();
  private boundAddress: BoundAddress | undefined;

  constructor(options: HttpServerOptions) {
    this.name = options.name;
    this.options = options;
    // A server stopped before it listened (or that failed to) must not leave an unhandled rejection.
    this.bound.promise.catch(() => undefined);
  }

  /** The address once listening, else undefined. */
  get address(): BoundAddress | undefined {
    return this.boundAddress;
  }

  /** Resolves once listening; rejects if listening failed or the server stopped first. */
  listening(): Promise<BoundAddress> {
    return this.bound.promise;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { app, port } = this.options;
    const drain = { active: false };
    if ((this.options.drainMs ?? 0) > 0) {
      // Runs before fastify writes the head: the connection ends after this answer.
      app.server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
        if (drain.active && !response.headersSent) response.setHeader('connection', 'close');
      });
    }
    if (signal.aborted) {
      this.bound.reject(new Error(`${this.name}: stopped before listening`));
      return;
    }
    const host = this.options.host === '' ? allInterfacesHost() : this.options.host;
    try {
      await app.listen({ host, port, ...(this.options.reusePort === true ? { reusePort: true } : {}) });
    } catch (error) {
      const failure = new Error(`${this.name}: listen on ${urlHost(host)}:${port}`, { cause: error });
      this.bound.reject(failure);
      throw failure;
    }
    try {
      const address = app.server.address();
      const actualPort = typeof address === 'object' && address !== null ? address.port : port;
      this.boundAddress = { host, port: actualPort, url: `http://${urlHost(host)}:${actualPort}` };
      this.bound.resolve(this.boundAddress);
      await aborted(signal);
      drain.active = true;
      await this.drain();
    } finally {
      await app.close();
    }
  }

  /** Stops accepting and waits (bounded by `drainMs`) until the open connections are gone. */
  private async drain(): Promise<void> {
    const { app, drainMs = 0 } = this.options;
    if (drainMs <= 0 || !app.server.listening) return;
    // net's close, not http's: http.Server#close also destroys every connection without a request
    // in progress — including one accepted a moment ago whose request is still on the way.
    NetServer.prototype.close.call(app.server);
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline) {
      const open = await new Promise<number>((resolve) => {
        app.server.getConnections((error, count) => { resolve(error === null ? count : 0); });
      });
      if (open === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
