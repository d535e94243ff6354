import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runImdsRelay, type ImdsRelay } from '../../../../src/sim/imds/relay.ts';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
  cleanups = [];
});

/** An upstream that echoes what it received. */
async function echoServer(): Promise<string> {
  const server: Server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ url: request.url, host: request.headers.host, metadata: request.headers['metadata'], forwarded: request.headers['x-forwarded-for'] ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => { resolve(); })));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('runImdsRelay', () => {
  it('passes requests through unchanged, on several connections', async () => {
    const target = await echoServer();
    const relay: ImdsRelay = await runImdsRelay({ listen: { host: '127.0.0.1', port: 0 }, target });
    cleanups.push(() => relay.close());
    const results = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const response = await fetch(`${relay.url}//metadata/identity/oauth2/token/?n=${n}`, { headers: { metadata: 'true' } });
        return response.json();
      }),
    );
    expect(results).toEqual(
      [1, 2, 3].map((n) => ({ url: `//metadata/identity/oauth2/token/?n=${n}`, host: new URL(relay.url).host, metadata: 'true', forwarded: null })),
    );
  });

  it('closes on abort and refuses connections afterwards', async () => {
    const target = await echoServer();
    const controller = new AbortController();
    const relay = await runImdsRelay({ listen: { host: '127.0.0.1', port: 0 }, target, signal: controller.signal });
    expect((await fetch(`${relay.url}/x`)).status).toBe(200);
    controller.abort();
    await relay.close();
    await expect(fetch(`${relay.url}/x`)).rejects.toThrow();
  });

  it('drops the client connection when the target is down', async () => {
    const relay = await runImdsRelay({ listen: { host: '127.0.0.1', port: 0 }, target: 'http://127.0.0.1:1' });
    cleanups.push(() => relay.close());
    await expect(fetch(`${relay.url}/x`)).rejects.toThrow();
  });

  it('rejects a non-http target', async () => {
    await expect(runImdsRelay({ listen: { host: '127.0.0.1', port: 0 }, target: 'https://127.0.0.1:1' })).rejects.toThrow(/http:\/\//);
  });
});
