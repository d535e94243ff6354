/**
 * Joins two TCP/unix sockets into one byte stream in both directions (relays and forwarders), tracked
 * in `open` until they close so that the owner can end them all on shutdown; either side failing or
 * closing tears down both.
 * @module
 */
import type { Socket } from 'node:net';

export function spliceSockets(client: Socket, upstream: Socket, open: Set<Socket>): void {
  for (const socket of [client, upstream]) {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  }
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.pipe(upstream).pipe(client);
}
