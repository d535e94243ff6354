/**
 * A bounded grammar fuzzer (fast-check, fixed seed) against a running NMI over raw sockets, so that
 * request lines Node's own HTTP client would refuse to send (backslashes, encoded separators, odd
 * methods, duplicate parameters, huge values) reach NMI as written. Properties, for every request:
 * NMI answers (no crash, no hang); a 5xx is only one of the documented ones (500 unknown pod, 502 IMDS
 * unreachable, 503); every error body is JSON with an `error`; a token is only ever served to the pod
 * bound to the identity, on the canonical token path. Prints one count line.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useMicWorld } from '../../support/mic-suite.ts';
import { startNmi, tokenRequest, type NmiProcess } from '../../support/nmi-world.ts';

const BOUND = '127.12.0.1';
const STRANGER = '127.12.0.2';
const RUNS = 300;

const suite = useMicWorld({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } });
let nmi: NmiProcess;

beforeAll(async () => {
  const world = suite.world();
  const node = world.scaleSetNodes[0] ?? '';
  // A generous per-pod limit: the fuzzer is one pod asking hundreds of times.
  nmi = await startNmi(world, node, ['--retry-attempts-for-created=1', '--retry-attempts-for-assigned=1', '--find-identity-retry-interval=0', '--per-pod-requests-per-second=10000', '--per-pod-burst=10000']);
  await world.namespace('fuzz');
  const azure = await world.azureIdentity('fuzz-identity');
  await world.createIdentity('fuzz', 'fuzz-identity', { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await world.createBinding('fuzz', 'fuzz-binding', 'fuzz-identity', 'fuzz');
  await world.createPod('fuzz', 'bound', node, 'fuzz', { ip: BOUND });
  await world.createPod('fuzz', 'other', node, undefined, { ip: STRANGER });
  // The bound pod's identity is assigned before fuzzing starts.
  let first = await tokenRequest(nmi, BOUND, { resource: 'https://management.azure.com/' });
  for (let attempt = 0; first.status !== 200 && attempt < 120; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    first = await tokenRequest(nmi, BOUND, { resource: 'https://management.azure.com/' });
  }
  expect(first.status, first.text).toBe(200);
}, 120_000);

afterAll(async () => {
  await nmi.stop();
});

interface RawAnswer {
  readonly raw: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Sends `request` as written from `from`; parses the answer (content-length or chunked). */
function rawRequest(port: number, from: string, request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    const chunks: Buffer[] = [];
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer within 20 s')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      let body = split === -1 ? '' : text.slice(split + 4);
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? Number.NaN);
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      if (headers['transfer-encoding'] === 'chunked') {
        let decoded = '';
        let rest = body;
        for (;;) {
          const end = rest.indexOf('\r\n');
          const size = Number.parseInt(rest.slice(0, end), 16);
          if (end === -1 || !(size > 0)) break;
          decoded += rest.slice(end + 2, end + 2 + size);
          rest = rest.slice(end + 2 + size + 2);
        }
        body = decoded;
      }
      resolve({ status, headers, body: Buffer.from(body, 'latin1').toString('utf8'), raw: text.slice(0, 300) });
    });
    // Not end(): a client that half-closes before the answer is, to Node's HTTP server, a client that left.
    socket.write(request);
  });
}

const PATH_PIECES = ['/', '//', '\\', '%2F', '%2f', '%5C', '%252F', 'metadata', 'Metadata', 'METADATA', 'identity', 'Identity', 'oauth2', 'token', 'token/', '..', '.', 'host', 'instance', '%6Detadata', 'x'.repeat(300), '%00', '%zz', ';', '@'];
const PARAMS = ['resource', 'api-version', 'client_id', 'object_id', 'msi_res_id', 'mi_res_id', 'bypass_cache', 'x'];
const VALUES = ['https://management.azure.com/', 'https://vault.azure.net', '2018-02-01', '', 'a'.repeat(2_000), '%E2%9C%93', '%', '00000000-0000-0000-0000-000000000000', '/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z'];

const requestArb = fc.record({
  from: fc.constantFrom(BOUND, STRANGER),
  method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'BREW'),
  path: fc.oneof(
    fc.constant('/metadata/identity/oauth2/token'),
    fc.constant('/metadata/identity/oauth2/token/'),
    fc.constant('//metadata/identity/oauth2/token'),
    fc.array(fc.constantFrom(...PATH_PIECES), { minLength: 1, maxLength: 8 }).map((pieces) => `/${pieces.join('')}`),
  ),
  params: fc.array(fc.tuple(fc.constantFrom(...PARAMS), fc.constantFrom(...VALUES)), { maxLength: 5 }),
  metadata: fc.constantFrom<string | undefined>('true', 'true', 'True', 'false', undefined),
  extraHeaders: fc.array(fc.constantFrom('X-Forwarded-For: 10.0.0.1', 'podns: fuzz', 'podname: bound', 'Metadata: true', `X-Long: ${'y'.repeat(4_000)}`, 'Content-Type: application/json'), { maxLength: 3 }),
  body: fc.constantFrom('', '{}', 'not json', 'z'.repeat(10_000)),
});

type FuzzRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

function render(request: FuzzRequest): string {
  const query = request.params.map(([name, value]) => `${name}=${value}`).join('&');
  const target = query === '' ? request.path : `${request.path}?${query}`;
  const headers = [`Host: 169.254.169.254`, 'Connection: close', ...(request.metadata === undefined ? [] : [`Metadata: ${request.metadata}`]), ...request.extraHeaders];
  if (request.body !== '' && request.method !== 'GET' && request.method !== 'HEAD') headers.push(`Content-Length: ${String(Buffer.byteLength(request.body))}`);
  const body = request.body !== '' && request.method !== 'GET' && request.method !== 'HEAD' ? request.body : '';
  return `${request.method} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n${body}`;
}

const CANONICAL = /^\/{1,2}[Mm][Ee][Tt][Aa][Dd][Aa][Tt][Aa]\/identity\/oauth2\/token\/?$/;

describe('NMI under a grammar fuzzer (raw sockets)', () => {
  it(`answers ${String(RUNS)} generated requests without a crash, an undocumented 5xx, a non-JSON error or a misplaced token`, async () => {
    const statuses = new Map<number, number>();
    let tokens = 0;
    await fc.assert(
      fc.asyncProperty(requestArb, async (request) => {
        const answer = await rawRequest(nmi.port, request.from, render(request));
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        expect(Number.isInteger(answer.status), `${render(request).slice(0, 200)} → ${JSON.stringify(answer.raw)}`).toBe(true);
        expect([500, 502, 503].includes(answer.status) || answer.status < 500, `undocumented ${String(answer.status)}`).toBe(true);
        if (answer.status >= 400 && request.method !== 'HEAD') {
          const parsed = JSON.parse(answer.body) as { error?: unknown };
          expect(parsed.error, answer.body.slice(0, 200)).toBeDefined();
        }
        if (answer.body.includes('access_token')) {
          tokens++;
          // Only the bound pod, only on the canonical token path.
          expect(request.from).toBe(BOUND);
          expect(CANONICAL.test(request.path)).toBe(true);
        }
      }),
      { numRuns: RUNS, seed: 20261122, endOnFailure: true },
    );
    console.log(`nmi fuzz: ${String(RUNS)} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}, tokens served ${String(tokens)} (all to the bound pod on the token path), NMI alive: ${String((await tokenRequest(nmi, BOUND, { resource: 'https://management.azure.com/' })).status === 200)}`);
    // NMI is still alive and serving after the run.
    expect((await tokenRequest(nmi, BOUND, { resource: 'https://management.azure.com/' })).status).toBe(200);
  }, 300_000);
});
