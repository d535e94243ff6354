/**
 * Runs inside a network namespace (`ip netns exec <ns> node netns-forward.ts --listen H:P --unix S`):
 * listens on H:P there and pipes every connection to the unix socket S, where the test (in the root
 * namespace) connects it on to a loopback service. Unix sockets on the filesystem are not scoped by
 * network namespace, so this reaches root-namespace loopback without any link or route in the root
 * namespace. Prints one JSON line `{"event":"listening"}` when ready.
 * @module
 */
import { connect, createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { spliceSockets } from '../lib/socket-splice.ts';

const { values } = parseArgs({ options: { listen: { type: 'string' }, unix: { type: 'string' } } });
const listen = /^(.+):(\d+)$/.exec(values.listen ?? '');
if (listen === null || values.unix === undefined) {
  console.error('usage: netns-forward.ts --listen <host>:<port> --unix <socket path>');
  process.exit(2);
}
const [, host = '', port = '0'] = listen;
const socketPath = values.unix;

const sockets = new Set<Socket>();
const server = createServer((client) => {
  const upstream = connect(socketPath);
  spliceSockets(client, upstream, sockets);
});
server.on('error', (error) => {
  console.error(`netns-forward: ${error.message}`);
  process.exit(1);
});
server.listen(Number(port), host, () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', host, port: Number(port), unix: socketPath })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close();
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  });
}
