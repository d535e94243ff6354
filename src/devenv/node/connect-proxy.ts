/**
 * Runs inside the cluster's hub namespace (`ip netns exec pi-<run>-net node connect-proxy.ts --unix S
 * --allow 10.200.0.0/24 --allow 10.244.0.0/16`): an HTTP CONNECT proxy on the unix socket S, the API server's egress selector
 * `cluster` transport. The API server reaches kubelets (logs, exec, port-forward) and pods (the pod proxy) through it, so it
 * never dials a node address from the root namespace. Only destinations inside `--allow` are dialled.
 * Prints one JSON line `{"event":"listening"}` when ready.
 * @module
 */
import { rmSync } from 'node:fs';
import { BlockList, connect, createServer, isIPv4, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { spliceSockets } from '../../lib/socket-splice.ts';

const { values } = parseArgs({ options: { unix: { type: 'string' }, allow: { type: 'string', multiple: true } } });
const cidrs = (values.allow ?? []).map((allow) => /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(allow));
if (values.unix === undefined || cidrs.length === 0 || cidrs.some((cidr) => cidr === null)) {
  console.error('usage: connect-proxy.ts --unix <socket path> --allow <IPv4 CIDR> [--allow …]');
  process.exit(2);
}
const allowed = new BlockList();
for (const cidr of cidrs) allowed.addSubnet(cidr?.[1] ?? '', Number(cidr?.[2]), 'ipv4');
const socketPath = values.unix;
const MAX_HEADER = 8 * 1024;

const sockets = new Set<Socket>();
const server = createServer((client) => {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_HEADER) client.destroy();
      return;
    }
    client.off('data', onData);
    const request = /^CONNECT ([^\s:]+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.subarray(0, end + 4).toString('latin1'));
    const host = request?.[1] ?? '';
    const port = Number(request?.[2] ?? 0);
    if (request === null || !isIPv4(host) || !allowed.check(host, 'ipv4') || port < 1 || port > 65_535) {
      client.end(`HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const upstream = connect(port, host);
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      const rest = head.subarray(end + 4);
      if (rest.length > 0) upstream.write(rest);
      spliceSockets(client, upstream, sockets);
    });
    upstream.once('error', (error) => {
      if (!client.destroyed) client.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nX-Error: ${error.message.replace(/[\r\n]/g, ' ')}\r\n\r\n`);
    });
  };
  client.on('data', onData);
  client.on('error', () => undefined);
});
server.on('error', (error) => {
  console.error(`connect-proxy: ${error.message}`);
  process.exit(1);
});
rmSync(socketPath, { force: true });
server.listen(socketPath, () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', unix: socketPath })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close();
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  });
}
