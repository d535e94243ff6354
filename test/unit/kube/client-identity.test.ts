import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_VERSION } from '../../../src/cli/kube-access.ts';
import type { KubeAccess, PreparedRequest } from '../../../src/kube/access.ts';
import { identifiedAccess, KUBE_COMPONENT, kubeUserAgent } from '../../../src/kube/client-identity.ts';
import { rawRequest } from '../../../src/kube/raw-client.ts';
import { RequestLimiter } from '../../../src/kube/request-limiter.ts';
import { watchStream } from '../../../src/kube/watch.ts';
import { ManualClock } from '../../support/manual-clock.ts';

const LINUX = { platform: 'linux', arch: 'x64', nodeVersion: 'v24.21.0' };

describe('kubeUserAgent', () => {
  it('has client-go’s form with Go’s platform names', () => {
    expect(kubeUserAgent({ component: 'pod-identity-mic', version: '0.1.0' }, LINUX)).toBe('pod-identity-mic/0.1.0 (linux/amd64) node/v24.21.0');
    expect(kubeUserAgent({ component: 'pod-identity-nmi', version: '0.1.0' }, { platform: 'linux', arch: 'arm64', nodeVersion: 'v24.1.0' })).toBe('pod-identity-nmi/0.1.0 (linux/arm64) node/v24.1.0');
    expect(kubeUserAgent({ component: 'pod-identity-cli', version: '0.1.0' }, { platform: 'win32', arch: 'ia32', nodeVersion: 'v24.0.0' })).toBe('pod-identity-cli/0.1.0 (windows/386) node/v24.0.0');
  });

  it('appends --custom-user-agent after a space; blank adds nothing', () => {
    expect(kubeUserAgent({ component: 'pod-identity-mic', version: '0.1.0', customUserAgent: 'contoso-aks/2 (team a)' }, LINUX)).toBe('pod-identity-mic/0.1.0 (linux/amd64) node/v24.21.0 contoso-aks/2 (team a)');
    expect(kubeUserAgent({ component: 'pod-identity-mic', version: '0.1.0', customUserAgent: '  ' }, LINUX)).toBe('pod-identity-mic/0.1.0 (linux/amd64) node/v24.21.0');
  });

  it('its first token is the component, which the API server would take as the field manager', () => {
    for (const component of Object.values(KUBE_COMPONENT)) {
      expect(kubeUserAgent({ component, version: '1.2.3', customUserAgent: 'x/1' }).split('/')[0]).toBe(component);
    }
  });

  it('the CLI reports package.json’s version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(CLI_VERSION).toBe(pkg.version);
  });
});

interface Seen {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
}

/** A loopback server that records each request and answers `{}` (or one watch event). */
const seen: Seen[] = [];
const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  seen.push({ method: request.method ?? '', url, headers: request.headers });
  request.resume();
  response.setHeader('Content-Type', 'application/json');
  response.end(url.searchParams.get('watch') === 'true' ? '{"type":"ADDED","object":{}}\n' : '{}');
});
let base: KubeAccess;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const server_ = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  base = { server: server_, prepare: (): Promise<PreparedRequest> => Promise.resolve({ headers: { Authorization: 'Bearer t' }, dispatcher: undefined }) };
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
});

describe('identifiedAccess through rawRequest and watchStream', () => {
  it('sends the User-Agent on every request and the field manager on writes only', async () => {
    seen.length = 0;
    const access = identifiedAccess(base, { userAgent: 'pod-identity-mic/0.1.0 (linux/amd64) node/v24 custom/1', fieldManager: 'pod-identity-mic' });
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      await rawRequest(access, { method, path: '/api/v1/namespaces/a/configmaps', ...(method === 'GET' || method === 'DELETE' ? {} : { body: {} }) });
    }
    await watchStream(access, '/api/v1/pods', {}, () => undefined, new AbortController().signal);
    expect(seen.map((request) => request.headers['user-agent'])).toEqual(Array.from({ length: 6 }, () => 'pod-identity-mic/0.1.0 (linux/amd64) node/v24 custom/1'));
    expect(seen.map((request) => request.headers.authorization)).toEqual(Array.from({ length: 6 }, () => 'Bearer t'));
    expect(seen.map((request) => `${request.method} ${request.url.searchParams.get('fieldManager') ?? '-'}`)).toEqual([
      'GET -',
      'POST pod-identity-mic',
      'PUT pod-identity-mic',
      'PATCH pod-identity-mic',
      'DELETE -',
      'GET -',
    ]);
  });

  it('keeps a field manager the caller names (server-side apply)', async () => {
    seen.length = 0;
    const access = identifiedAccess(base, { userAgent: 'pod-identity-cli/0.1.0', fieldManager: 'pod-identity-cli' });
    await rawRequest(access, { method: 'PATCH', path: '/x', query: { fieldManager: 'someone-else', force: true }, contentType: 'application/apply-patch+yaml', body: {} });
    expect(seen[0]?.url.searchParams.getAll('fieldManager')).toEqual(['someone-else']);
  });

  it('a target without identity sends no field manager (the API server falls back to the User-Agent)', async () => {
    seen.length = 0;
    await rawRequest(base, { method: 'POST', path: '/x', body: {} });
    expect(seen[0]?.url.searchParams.has('fieldManager')).toBe(false);
  });

  it('paces requests and watch openings through the limiter, one token each', async () => {
    seen.length = 0;
    const clock = new ManualClock(0);
    const access = identifiedAccess(base, { userAgent: 'ua', fieldManager: 'fm', limiter: new RequestLimiter({ qps: 1, burst: 2 }, clock) });
    const calls = [
      rawRequest(access, { method: 'GET', path: '/a' }),
      watchStream(access, '/w', {}, () => undefined, new AbortController().signal),
      rawRequest(access, { method: 'GET', path: '/b' }),
    ];
    await settle(() => seen.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The third waits for the clock: 1 token per second after the burst of 2.
    expect(seen.map((request) => request.url.pathname).sort()).toEqual(['/a', '/w']);
    await clock.advance(1_000);
    await Promise.all(calls);
    expect(seen.map((request) => request.url.pathname)).toContain('/b');
  });

  it('a watch whose opening is still paced ends quietly when its signal aborts', async () => {
    seen.length = 0;
    const clock = new ManualClock(0);
    const access = identifiedAccess(base, { userAgent: 'ua', fieldManager: 'fm', limiter: new RequestLimiter({ qps: 1, burst: 1 }, clock) });
    await rawRequest(access, { method: 'GET', path: '/first' });
    const stop = new AbortController();
    const watching = watchStream(access, '/w', {}, () => undefined, stop.signal);
    stop.abort();
    await expect(watching).resolves.toBeUndefined();
    expect(seen.map((request) => request.url.pathname)).toEqual(['/first']);
  });
});

/** Waits (bounded, real time) until `done` holds: the loopback server answers asynchronously. */
async function settle(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(done()).toBe(true);
}
