import http from 'node:http';
import { connect, createServer } from 'node:net';
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

  it('a drained stop answers the request in flight and a connection accepted just before, then closes; an undrained one cuts both', async () => {
    const slowApp = (): FastifyInstance => {
      const instance = fastify({ forceCloseConnections: true, return503OnClosing: true });
      instance.get('/', async () => 'hi');
      instance.get('/slow', async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return 'slow';
      });
      return instance;
    };
    const get = (port: number, path: string): Promise<string> =>
      new Promise((resolve) => {
        const request = http.get(`http://127.0.0.1:${String(port)}${path}`, { agent: false }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
          response.on('end', () => { resolve(`${String(response.statusCode)} ${body}`); });
        });
        request.on('error', (error: NodeJS.ErrnoException) => { resolve(error.code ?? error.message); });
      });
    /** A connection that is accepted now and sends its request only when asked; resolves with what came back. */
    const lateRequest = async (port: number): Promise<{ send: () => Promise<string> }> => {
      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      let received = '';
      socket.on('data', (chunk: Buffer) => { received += chunk.toString(); });
      const ended = new Promise<string>((resolve) => {
        socket.once('close', () => { resolve(received); });
        socket.once('error', (error: NodeJS.ErrnoException) => { resolve(error.code ?? error.message); });
      });
      return { send: () => { if (socket.writable) socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); return ended; } };
    };
    const scenario = async (drainMs: number | undefined): Promise<{ inFlight: string; late: string; afterStop: string; stopMs: number }> => {
      const server = new HttpServer({ name: 'server', app: slowApp(), host: '127.0.0.1', port: 0, ...(drainMs === undefined ? {} : { drainMs }) });
      const stop = new AbortController();
      const run = server.run(stop.signal);
      const { port } = await server.listening();
      const inFlight = get(port, '/slow');
      const late = await lateRequest(port);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      stop.abort();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const afterStop = await get(port, '/');
      const answered = await late.send();
      const result = { inFlight: await inFlight, late: answered.startsWith('HTTP/1.1 200') && /connection: close/i.test(answered) ? 'answered, then closed' : answered === '' ? 'closed unanswered' : answered, afterStop };
      await run;
      return { ...result, stopMs: performance.now() - started };
    };
    const drained = await scenario(2_000);
    expect(drained).toMatchObject({ inFlight: '200 slow', late: 'answered, then closed', afterStop: 'ECONNREFUSED' });
    // It ends as soon as the connections are gone, well before drainMs.
    expect(drained.stopMs).toBeLessThan(1_500);
    const cut = await scenario(undefined);
    expect(cut.inFlight).not.toBe('200 slow');
    expect(cut.late).not.toBe('answered, then closed');
  });
});
