/**
 * The fastify shell with the real handler over empty caches (no pods known): every answer is JSON,
 * framework errors included, and no path variant yields a token or an unexpected 5xx.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/lib/clock.ts';
import { buildNmiApp, clientErrorAnswer, rawErrorResponse, REQUEST_TIMEOUT_MS } from '../../../../src/nmi/http/app.ts';
import { parseResponses } from '../../../reliability/raw-http.ts';
import { connect } from 'node:net';
import { KeyedWaiter } from '../../../../src/lib/keyed-waiter.ts';
import { NmiHandler } from '../../../../src/nmi/http/handler.ts';
import { IdentityFinder } from '../../../../src/nmi/identity/identity-finder.ts';
import { createNmiInformers } from '../../../../src/nmi/identity/informers.ts';
import { KeyedRateLimiter } from '../../../../src/nmi/limits.ts';
import { NmiMetrics } from '../../../../src/nmi/metrics.ts';
import { NodeView } from '../../../../src/nmi/identity/node-view.ts';
import { ImdsProxy } from '../../../../src/nmi/http/proxy.ts';
import { IMDS_IDENTITIES } from '../../../../src/nmi/tokens/imds-source.ts';
import { SERVICE_PRINCIPAL_IDENTITIES } from '../../../../src/nmi/tokens/service-principal-source.ts';
import { CachingTokenSource } from '../../../../src/nmi/tokens/token-cache.ts';
import { TokenService } from '../../../../src/nmi/tokens/token-service.ts';
import { route, UpstreamRouter } from '../../../../src/nmi/tokens/upstream-router.ts';

function app(options: { block?: boolean; perPod?: { ratePerSec: number; burst: number } } = {}) {
  const logger = pino({ level: 'silent' });
  const informers = createNmiInformers(new KubeConfig(), logger, { nodeName: 'n', mode: 'standard', watchNodeAssignmentsOnly: true });
  const view = new NodeView(informers);
  const fail = (): Promise<never> => Promise.reject(new Error('no upstream in this test'));
  const upstreams = new UpstreamRouter([route(IMDS_IDENTITIES, { getToken: fail }), route(SERVICE_PRINCIPAL_IDENTITIES, { getToken: fail })]);
  const handler = new NmiHandler({
    view,
    addresses: new KeyedWaiter(systemClock),
    finder: new IdentityFinder(view, new KeyedWaiter(systemClock), { mode: 'standard', namespaced: false, micNamespace: 'default', retryAttemptsForCreated: 1, retryAttemptsForAssigned: 0, retryIntervalMs: 0, clock: systemClock }),
    tokens: new TokenService({ cache: new CachingTokenSource(upstreams), upstreams }),
    perPod: new KeyedRateLimiter(options.perPod ?? { ratePerSec: 1_000_000, burst: 1_000_000 }),
    metrics: new NmiMetrics({ processMetrics: false }),
    logger,
    clock: systemClock,
    options: { nodeName: 'n', metadataHeaderRequired: true, blockInstanceMetadata: options.block ?? false, retryAfterSeconds: undefined, podLookup: { attempts: 1, intervalMs: 0 } },
  });
  // Port 9 on loopback: nothing listens, so proxying fails fast.
  return buildNmiApp({ handler, proxy: new ImdsProxy({ metadataIp: '127.0.0.1', metadataPort: 9, timeoutMs: 1_000 }), hostListener: false, logger });
}

const metadata = { metadata: 'true' };

describe('NMI app', () => {
  it('refuses a token to an address that is no pod, as JSON', async () => {
    const response = await app().inject({ method: 'GET', url: '/metadata/identity/oauth2/token?resource=https://x&api-version=2018-02-01', headers: metadata });
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toContain('application/json');
    expect(response.json()).toMatchObject({ error: 'internal_error' });
  });

  it('checks every request’s headers, and every query, though the same query is parsed once (a duplicate, then a good one, then no Metadata header)', async () => {
    const instance = app();
    const query = '/metadata/identity/oauth2/token?resource=https://x&api-version=2018-02-01';
    const duplicate = await instance.inject({ method: 'GET', url: `${query}&resource=https://y`, headers: metadata });
    expect(duplicate.json()).toMatchObject({ error: 'invalid_request' });
    expect((duplicate.json<{ error_description: string }>()).error_description).toContain('resource');
    for (let round = 0; round < 2; round++) {
      expect((await instance.inject({ method: 'GET', url: query, headers: metadata })).json()).toMatchObject({ error: 'internal_error' });
      expect((await instance.inject({ method: 'GET', url: query })).json()).toEqual({ error: 'invalid_request', error_description: 'Required metadata header not specified' });
      expect((await instance.inject({ method: 'GET', url: query, headers: { ...metadata, 'x-forwarded-for': '10.0.0.1' } })).statusCode).toBe(400);
    }
  });

  it('answers malformed URLs, oversized bodies and unknown methods with JSON errors', async () => {
    const instance = app();
    const badEscape = await instance.inject({ method: 'GET', url: '/metadata/%zz', headers: metadata });
    expect(badEscape.statusCode).toBeGreaterThanOrEqual(400);
    expect(() => badEscape.json<unknown>()).not.toThrow();
    const big = await instance.inject({ method: 'POST', url: '/metadata/instance', headers: { ...metadata, 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(200 * 1024) });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toHaveProperty('error');
    const noHeader = await instance.inject({ method: 'GET', url: '/metadata/instance?api-version=2021-02-01' });
    expect(noHeader.json()).toEqual({ error: 'invalid_request', error_description: 'Required metadata header not specified' });
    const unreachable = await instance.inject({ method: 'GET', url: '/metadata/instance?api-version=2021-02-01', headers: metadata });
    expect(unreachable.statusCode).toBe(502);
    expect(unreachable.json()).toMatchObject({ error: 'bad_gateway' });
  });

  it('blocks instance metadata in every spelling when asked to', async () => {
    const instance = app({ block: true });
    for (const url of ['/metadata/instance', '/Metadata/Instance/compute', '//metadata/instance', '/x/../metadata/instance', '/%6Detadata/instance']) {
      const response = await instance.inject({ method: 'GET', url, headers: metadata });
      expect(response.statusCode, url).toBe(403);
    }
  });

  it('holds a flooding pod’s refusals back (up to a second) and answers 429 with Retry-After', async () => {
    const instance = app({ perPod: { ratePerSec: 2, burst: 1 } });
    const url = '/metadata/identity/oauth2/token?resource=https://x';
    const first = await instance.inject({ method: 'GET', url, headers: metadata, remoteAddress: '10.1.1.1' });
    expect(first.statusCode).toBe(500); // admitted: no pod has this address
    const started = performance.now();
    const limited = await instance.inject({ method: 'GET', url, headers: metadata, remoteAddress: '10.1.1.1' });
    const heldMs = performance.now() - started;
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.json()).toMatchObject({ error: 'too_many_requests' });
    expect(heldMs).toBeGreaterThanOrEqual(300);
    // Another address is not affected.
    expect((await instance.inject({ method: 'GET', url, headers: metadata, remoteAddress: '10.1.1.2' })).statusCode).toBe(500);
  });

  it('never answers a path variant with a token or an undocumented 5xx (200 generated paths)', async () => {
    const instance = app();
    const pieces = ['/', '//', '\\', '%2F', '%5C', '%252F', 'metadata', 'Metadata', 'identity', 'oauth2', 'token', '..', '.', '?resource=x', '#', '%00', 'host', 'instance'];
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let checked = 0;
    for (let index = 0; index < 200; index++) {
      const length = 1 + Math.floor(random() * 9);
      const path = `/${Array.from({ length }, () => pieces[Math.floor(random() * pieces.length)] ?? '').join('')}`;
      let response;
      try {
        response = await instance.inject({ method: random() < 0.8 ? 'GET' : 'POST', url: path, headers: metadata });
      } catch (error) {
        // The injector itself cannot build some URLs (e.g. `\\` right after the first slash); real sockets are covered by the integration tests.
        if (error instanceof TypeError) continue;
        throw error;
      }
      checked++;
      expect([400, 403, 404, 413, 500, 502], path).toContain(response.statusCode);
      const body = response.json<Record<string, unknown>>();
      expect(body, path).not.toHaveProperty('access_token');
      expect(typeof body['error'], path).toBe('string');
    }
    expect(checked).toBeGreaterThan(150);
  }, 30_000);

  describe('requests Node refuses before NMI sees them (real socket)', () => {
    /** Writes `request` to a listening app without half-closing, returns the answers until the server closes. */
    async function exchange(request: string): Promise<ReturnType<typeof parseResponses>> {
      const instance = app();
      await instance.listen({ host: '127.0.0.1', port: 0 });
      const address = instance.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      try {
        return await new Promise((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port });
          const chunks: Buffer[] = [];
          socket.on('data', (chunk: Buffer) => chunks.push(chunk));
          socket.on('error', reject);
          socket.on('close', () => { resolve(parseResponses(Buffer.concat(chunks))); });
          socket.write(request);
        });
      } finally {
        await instance.close();
      }
    }

    it.each([
      ['a malformed request line', 'G T / HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'invalid_request'],
      ['an invalid header', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', 400, 'invalid_request'],
      ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n', 400, 'invalid_request'],
      ['headers over 16 KB', `GET / HTTP/1.1\r\nHost: x\r\nX-Huge: ${'z'.repeat(20_000)}\r\n\r\n`, 431, 'invalid_request'],
      ['CONNECT (Node would drop the socket silently)', 'CONNECT /metadata/identity/oauth2/token HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'invalid_request'],
      ['HTTP/1.1 without Host (Node would answer an empty 400)', 'GET /metadata/identity/oauth2/token?resource=x HTTP/1.1\r\nMetadata: true\r\nConnection: close\r\n\r\n', 400, 'invalid_request'],
    ])('answers %s with IMDS-shaped JSON', async (_name, request, status, error) => {
      const { responses } = await exchange(request);
      expect(responses.map((response) => response.status)).toEqual([status]);
      expect(responses[0]?.headers['content-type']).toContain('application/json');
      const body = JSON.parse(responses[0]?.body ?? '') as Record<string, unknown>;
      expect(body['error']).toBe(error);
      expect(typeof body['error_description']).toBe('string');
    });

    it('closes the connection after a request with Upgrade, instead of leaving a pipelined request unanswered until the keep-alive timeout (found by the fuzzer)', async () => {
      const token = '/metadata/identity/oauth2/token?resource=x';
      const started = performance.now();
      const { responses } = await exchange(`GET ${token} HTTP/1.1\r\nHost: x\r\nMetadata: true\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nGET ${token} HTTP/1.1\r\nHost: x\r\nMetadata: true\r\nConnection: close\r\n\r\n`);
      expect(responses[0]?.status).toBe(500);
      expect(responses[0]?.headers['connection']).toBe('close');
      // The same when fastify itself refuses the request (an invalid URL component).
      const refused = await exchange('GET /x%C0%AF%. HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(refused.responses.map((response) => [response.status, response.headers['connection']])).toEqual([[400, 'close']]);
      expect(performance.now() - started).toBeLessThan(5_000);
    }, 10_000);

    it('maps Node client errors: timeout 408, header overflow 431, the rest 400', () => {
      expect(clientErrorAnswer('ERR_HTTP_REQUEST_TIMEOUT')).toMatchObject({ status: 408, error: 'request_timeout' });
      expect(clientErrorAnswer('HPE_HEADER_OVERFLOW').status).toBe(431);
      expect(clientErrorAnswer('HPE_INVALID_METHOD').status).toBe(400);
      expect(clientErrorAnswer(undefined).status).toBe(400);
      const raw = rawErrorResponse(clientErrorAnswer(undefined));
      expect(parseResponses(Buffer.from(raw)).responses[0]).toMatchObject({ status: 400, body: '{"error":"invalid_request","error_description":"malformed HTTP request"}' });
    });

    it(`times out a request whose body never arrives (408 within ${String(REQUEST_TIMEOUT_MS / 1000)} s + 1 s), instead of holding the connection for ever`, async () => {
      const started = performance.now();
      const { responses } = await exchange('POST /metadata/instance HTTP/1.1\r\nHost: x\r\nMetadata: true\r\nContent-Length: 5\r\n\r\nab');
      expect(responses.map((response) => response.status)).toEqual([408]);
      expect(performance.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS + 3_000);
    }, REQUEST_TIMEOUT_MS + 10_000);
  });
});
