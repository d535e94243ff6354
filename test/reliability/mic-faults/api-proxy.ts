/**
 * A TCP pass-through in front of the kube-apiserver (loopback only) that can cut every connection and
 * refuse new ones for a while: MIC's watches break without the API server restarting, and, with etcd
 * compacting every second and the watch cache off, the resumed watches meet 410 Gone — the
 * production "watch expired after a long disconnect". TLS passes through untouched (the serving
 * certificate names 127.0.0.1, so clients still verify it).
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';

export interface ApiProxy {
  readonly port: number;
  /** A copy of `kubeconfigPath` whose server is this proxy. */
  kubeconfigVia(kubeconfigPath: string, server: string, outFile: string): string;
  /** Destroys every open connection and refuses new ones for `ms`. Resolves when it accepts again. */
  blackout(ms: number): Promise<void>;
  /** Connections cut so far. */
  readonly cut: number;
  close(): Promise<void>;
}

export async function startApiProxy(targetPort: number): Promise<ApiProxy> {
  const open = new Set<net.Socket>();
  const clients = new WeakSet<net.Socket>();
  let refusing = false;
  let cut = 0;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    open.add(client);
    open.add(upstream);
    clients.add(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { resolve(); });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('api proxy: no port');
  return {
    port: address.port,
    get cut() {
      return cut;
    },
    kubeconfigVia(kubeconfigPath, apiServer, outFile) {
      const text = readFileSync(kubeconfigPath, 'utf8');
      if (!text.includes(apiServer)) throw new Error(`api proxy: ${kubeconfigPath} does not name ${apiServer}`);
      writeFileSync(outFile, text.split(apiServer).join(`https://127.0.0.1:${address.port}`), { mode: 0o600 });
      return outFile;
    },
    async blackout(ms) {
      refusing = true;
      for (const socket of open) {
        socket.destroy();
        if (clients.has(socket)) cut++;
      }
      open.clear();
      await new Promise((resolve) => setTimeout(resolve, ms));
      refusing = false;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => { server.close(() => { resolve(); }); });
    },
  };
}
