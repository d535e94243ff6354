/**
 * The IMDS proxy against a local stand-in: hop-by-hop headers (and `Expect`, which undici refuses to
 * send) are not forwarded; IMDS's answer comes back; an unreachable IMDS is a 502 error.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImdsProxy, ImdsProxyError } from '../../../../src/nmi/http/proxy.ts';

let seen: IncomingHttpHeaders | undefined;
const server = createServer((request, response) => {
  seen = request.headers;
  response.setHeader('content-type', 'application/json');
  response.end('{"compute":{}}');
});
let port = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('ImdsProxy', () => {
  it('forwards a request that came with Expect: 100-continue (found by the fuzzer: it was a 502), without Expect or hop-by-hop headers', async () => {
    const proxy = new ImdsProxy({ metadataIp: '127.0.0.1', metadataPort: port, timeoutMs: 2_000 });
    const answer = await proxy.forward({
      method: 'POST',
      rawUrl: '/metadata/instance?api-version=2021-02-01',
      headers: { metadata: 'true', expect: '100-continue', connection: 'keep-alive', 'x-forwarded-for': '10.0.0.1', 'content-length': '2' },
      body: Buffer.from('{}'),
    });
    expect(answer.status).toBe(200);
    answer.body.resume();
    expect(seen?.['metadata']).toBe('true');
    expect(seen?.['expect']).toBeUndefined();
    expect(seen?.['x-forwarded-for']).toBeUndefined();
  });

  it('reports an unreachable IMDS as a 502 ImdsProxyError', async () => {
    const proxy = new ImdsProxy({ metadataIp: '127.0.0.1', metadataPort: 9, timeoutMs: 1_000 });
    const failure = await proxy.forward({ method: 'GET', rawUrl: '/metadata/instance', headers: {}, body: undefined }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ImdsProxyError);
    expect((failure as ImdsProxyError).status).toBe(502);
  });
});
