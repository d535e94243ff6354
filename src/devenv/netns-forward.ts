/**
 * Runs inside a network namespace (`ip netns exec <ns> node netns-forward.ts --listen H:P --unix S
 * [--listen H2:P2 --unix S2 …]`): listens on each H:P there and pipes every connection to its unix
 * socket S, where the test (in the root namespace, unix-relay.ts) connects it on to a loopback service.
 * With `--log-connections` it prints `{"event":"connection","remoteAddress":…}` for every connection. Unix sockets on the filesystem are not scoped by
 * network namespace, so this reaches root-namespace loopback without any link or route in the root
 * namespace. Prints one JSON line `{"event":"listening"}` when ready.
 * @module
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { spliceSockets } from '../lib/socket-splice.ts';

const { values } = parseArgs({
  options: { listen: { type: 'string', multiple: true }, unix: { type: 'string', multiple: true }, 'log-connections': { type: 'boolean' } },
});
const logConnections = values['log-connections'] === true;
const listens = values.listen ?? [];
const unixPaths = values.unix ?? [];
const pairs = listens.map((listen, index) => ({ match: /^(.+):(\d+)$/.exec(listen), socketPath: unixPaths[index] }));
if (pairs.length === 0 || listens.length !== unixPaths.length || pairs.some((pair) => pair.match === null)) {
  console.error('usage: netns-forward.ts --listen <host>:<port> --unix <socket path> [--listen … --unix …]');
  process.exit(2);
}

const sockets = new Set<Socket>();
const servers = pairs.map(({ match, socketPath }) => {
  const [, host = '', port = '0'] = match ?? [];
  const server = createServer((client) => {
    // Who reached this address (a node's IMDS: a pod here means interception failed).
    if (logConnections) process.stdout.write(`${JSON.stringify({ event: 'connection', remoteAddress: client.remoteAddress, localPort: client.localPort })}\n`);
    spliceSockets(client, connect(socketPath ?? ''), sockets);
  });
  server.on('error', (error) => {
    console.error(`netns-forward: ${host}:${port}: ${error.message}`);
    process.exit(1);
  });
  return new Promise<Server>((resolve) => server.listen(Number(port), host, () => { resolve(server); }));
});
const listening = await Promise.all(servers);
process.stdout.write(`${JSON.stringify({ event: 'listening', listeners: pairs.length })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const server of listening) server.close();
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  });
}
