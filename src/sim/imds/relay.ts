/**
 * A TCP forwarder for end-to-end tests: started inside a node's network namespace on
 * `169.254.169.254:80`, it pipes every connection to that node's per-VM IMDS listener on the host
 * side, so one simulator process serves many namespaced nodes. Bytes pass through untouched (no
 * `X-Forwarded-For` is added; the Host header stays as the client wrote it).
 * @module
 */
import { connect, createServer, type Socket } from 'node:net';
import { spliceSockets } from '../../lib/socket-splice.ts';

export interface ImdsRelayOptions {
  /** Where to listen, e.g. `{ host: '169.254.169.254', port: 80 }`. Port 0 picks a free port. */
  readonly listen: { readonly host: string; readonly port: number };
  /** The node's IMDS listener, e.g. `http://127.0.0.1:41234` (only host and port are used). */
  readonly target: string;
  /** Aborting closes the relay. */
  readonly signal?: AbortSignal;
}

export interface ImdsRelay {
  /** `http://host:port` the relay listens on. */
  readonly url: string;
  /** Stops accepting, ends open connections, resolves when closed. */
  close(): Promise<void>;
}

function targetAddress(target: string): { host: string; port: number } {
  const url = new URL(target);
  if (url.protocol !== 'http:') throw new Error(`imds relay: target must be an http:// URL, got ${target}`);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 80 : Number(url.port) };
}

/** Starts the relay; resolves once it listens. */
export async function runImdsRelay(options: ImdsRelayOptions): Promise<ImdsRelay> {
  const target = targetAddress(options.target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    spliceSockets(client, connect(target.port, target.host), sockets);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : options.listen.port;
  const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  };
  if (options.signal?.aborted === true) void close();
  else options.signal?.addEventListener('abort', () => void close(), { once: true });
  return { url: `http://${host}:${port}`, close };
}
