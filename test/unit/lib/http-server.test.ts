import { createServer } from 'node:net';
import fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { allInterfacesHost, HttpServer } from '../../../src/lib/http-server.ts';

function app(): FastifyInstance {
  const instance = fastify();
  instance.get('/', async () => 'hi');
  return instance;
}

describe('allInterfacesHost', () => {
  it('is :: when the host has IPv6, else 0.0.0.0', () => {
    const v4 = { family: 'IPv4' as const, address: '10.0.0.4', netmask: '255.255.255.0', mac: '00:00:00:00:00:00', internal: false, cidr: '10.0.0.4/24' };
    const v6 = { family: 'IPv6' as const, address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', mac: '00:00:00:00:00:00', internal: true, cidr: '::1/128', scopeid: 0 };
    expect(allInterfacesHost({ eth0: [v4], lo: [v6] })).toBe('::');
    expect(allInterfacesHost({ eth0: [v4] })).toBe('0.0.0.0');
  });
});

describe('HttpServer', () => {
  it('rejects listening() and does not listen when stopped before run', async () => {
    const server = new HttpServer({ name: 'test server', app: app(), host: '127.0.0.1', port: 0 });
    await server.run(AbortSignal.abort());
    await expect(server.listening()).rejects.toThrow('test server: stopped before listening');
    expect(server.address).toBeUndefined();
  });

  it('fails with the address when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const server = new HttpServer({ name: 'test server', app: app(), host: '127.0.0.1', port });
    const stop = new AbortController();
    await expect(server.run(stop.signal)).rejects.toThrow(`test server: listen on 127.0.0.1:${port}`);
    await expect(server.listening()).rejects.toThrow();
    await new Promise((resolve) => blocker.close(resolve));
  });

  it('brackets IPv6 hosts in its URL', async () => {
    const server = new HttpServer({ name: 'v6', app: app(), host: '::1', port: 0 });
    const stop = new AbortController();
    const run = server.run(stop.signal);
    try {
      const bound = await server.listening();
      expect(bound.url).toBe(`http://[::1]:${bound.port}`);
      expect(await (await fetch(`${bound.url}/`)).text()).toBe('hi');
    } catch (error) {
      // Hosts without IPv6 loopback cannot run this case.
      if (!String((error as Error).cause ?? error).includes('EADDRNOTAVAIL')) throw error;
    } finally {
      stop.abort();
      await run.catch(() => undefined);
    }
  });
});
