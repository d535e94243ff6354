/**
 * The root-namespace half of a forward into a network namespace: a unix socket on the filesystem whose
 * connections are piped to a loopback TCP service. The namespace half (netns-forward.ts) listens on a
 * TCP address inside the namespace and connects to this socket; unix sockets are not scoped by network
 * namespace, so nothing is added to the root namespace's links, addresses, routes or rules.
 * @module
 */
import { connect, createServer, type Socket } from 'node:net';
import { spliceSockets } from '../lib/socket-splice.ts';

export interface UnixRelay {
  readonly socketPath: string;
  /** Stops listening and ends every open connection. */
  close(): Promise<void>;
}

export async function listenUnixRelay(socketPath: string, target: { readonly host: string; readonly port: number }): Promise<UnixRelay> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    spliceSockets(client, connect(target.port, target.host), sockets);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => { resolve(); });
      });
      return closing;
    },
  };
}
