import { createServer } from 'node:net';

/**
 * A currently free TCP port on 127.0.0.1 (the kernel picks it; we release it for the caller). A tiny
 * race with other programs remains, which the start-up retry in control-plane.ts absorbs.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** Several distinct free ports (freePort called twice in a row may return the same one). */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}
