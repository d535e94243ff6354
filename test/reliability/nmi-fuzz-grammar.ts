/**
 * The request grammar of the NMI fuzzer (fast-check arbitraries): methods (odd and invalid ones too),
 * paths (token-path variants, encodings, `..`, `\`, doubled slashes, case, very long), queries
 * (duplicates, huge values, bad encodings, every parameter NMI knows), headers (Metadata variants,
 * duplicates, podname/podns, X-Forwarded-For, Host, Content-Length / Transfer-Encoding conflicts, huge
 * and invalid ones), bodies of every size around the 64 KB limit, and 1–3 pipelined requests per
 * connection, from bound pods, an unbound pod, an unknown address and the host.
 * @module
 */
import fc from 'fast-check';

export type Source = 'bound' | 'bound2' | 'stranger' | 'unknown' | 'host';

/** Values the fuzzer mixes into selectors: the world's identities and strangers. */
export interface FuzzIds {
  readonly clientIds: readonly string[];
  readonly resourceIds: readonly string[];
  readonly objectIds: readonly string[];
}

export interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly params: readonly (readonly [string, string | undefined])[];
  readonly version: string;
  readonly host: string | undefined;
  readonly headers: readonly string[];
  readonly body: BodyShape;
}

export type BodyShape =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly text: string }
  /** Content-Length smaller than the body: the rest is read as the next request. */
  | { readonly kind: 'short-length'; readonly text: string }
  | { readonly kind: 'chunked'; readonly text: string }
  /** A chunk size that is not hex: the parser must refuse it. */
  | { readonly kind: 'bad-chunked' }
  | { readonly kind: 'length-and-chunked'; readonly text: string }
  /** Content-Length larger than what is sent: NMI must time the request out (408), not wait for ever. */
  | { readonly kind: 'stalled' };

export interface FuzzConnection {
  readonly from: Source;
  readonly requests: readonly FuzzRequest[];
}

const TOKEN = '/metadata/identity/oauth2/token';
const PATH_PIECES = [
  '/', '//', '\\', '%2F', '%2f', '%5C', '%252F', '%5c', 'metadata', 'Metadata', 'METADATA', 'identity', 'Identity', 'oauth2', 'OAuth2', 'token', 'token/', '..', '.', '%2e%2e',
  'host', 'instance', 'compute', 'versions', '%6Detadata', '%00', '%zz', '%', ';', '@', ':', '~', '%C0%AF', '%E2%80%AE', 'ümlaut', '#frag', '?',
];
const PARAMS = ['resource', 'api-version', 'client_id', 'object_id', 'msi_res_id', 'mi_res_id', 'bypass_cache', 'format', 'Resource', 'CLIENT_ID', 'x', ''];
const RESOURCES = ['https://management.azure.com/', 'https://vault.azure.net', 'https://storage.azure.com/', 'api://x', '%2F%2F', '', ' ', 'https%3A%2F%2Fmanagement.azure.com%2F'];
const JUNK = ['', '%', '%zz', '%E2%9C%93', '%E2%9C', '%00', '+', '=', '&&', 'a'.repeat(2_000), 'b'.repeat(20_000), '2018-02-01', '2019-08-01', 'text', 'json', 'true', '00000000-0000-0000-0000-000000000000', '../../x', '<script>', '"quoted"'];

function valueArb(ids: FuzzIds): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...RESOURCES), weight: 3 },
    { arbitrary: fc.constantFrom(...ids.clientIds, ...ids.clientIds.map((id) => id.toUpperCase())), weight: 3 },
    { arbitrary: fc.constantFrom(...ids.resourceIds, ...ids.resourceIds.map((id) => id.toLowerCase())), weight: 2 },
    { arbitrary: fc.constantFrom(...ids.objectIds), weight: 2 },
    { arbitrary: fc.constantFrom(...JUNK), weight: 3 },
    { arbitrary: fc.string({ maxLength: 12 }).map(encodeURIComponent), weight: 1 },
  );
}

const methodArb = fc.oneof(
  { arbitrary: fc.constant('GET'), weight: 12 },
  { arbitrary: fc.constantFrom('POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'), weight: 4 },
  // Known to Node's parser but not to NMI's route list; CONNECT has its own server event.
  { arbitrary: fc.constantFrom('PROPFIND', 'TRACE', 'SEARCH', 'PURGE', 'CONNECT'), weight: 1 },
  // Unknown to Node's parser.
  { arbitrary: fc.constantFrom('get', 'BREW', 'G T', 'GET\u0000', '', 'X'.repeat(300), 'GÉT'), weight: 1 },
);

const pathArb = fc.oneof(
  { arbitrary: fc.constantFrom(TOKEN, `${TOKEN}/`, `/${TOKEN}`, '/METADATA/identity/oauth2/token', '/MetaData/identity/oauth2/token/'), weight: 8 },
  { arbitrary: fc.constantFrom('/host/token', '/host/token/', '/host/tokenx', '/metadata/instance', '/metadata/instance/compute', '/metadata/versions', '/', '*', 'http://169.254.169.254/metadata/identity/oauth2/token', '/metadata/identity/oauth2/token/../token', '/metadata/identity/oauth2/token%2F', '///metadata/identity/oauth2/token', '/meta data/identity', '/metadata/identity/oauth2/token\tx'), weight: 3 },
  { arbitrary: fc.array(fc.constantFrom(...PATH_PIECES), { minLength: 1, maxLength: 10 }).map((pieces) => `/${pieces.join('')}`), weight: 4 },
  { arbitrary: fc.constantFrom(`/${'x'.repeat(8_000)}`, `${TOKEN}${'/'.repeat(3_000)}`, `/${'%2F'.repeat(2_000)}${TOKEN}`), weight: 1 },
);

function headersArb(): fc.Arbitrary<string[]> {
  const metadata = fc.constantFrom('Metadata: true', 'Metadata: true', 'Metadata: true', 'metadata: true', 'METADATA: true', 'Metadata: True', 'Metadata: false', 'Metadata:', 'Metadata:  true  ', 'Metadata: true, true', 'Metadata: yes');
  // Valid headers mostly, so most requests reach NMI's own logic; headers Node's parser refuses sometimes.
  const valid = fc.constantFrom(
    'Metadata: true', 'X-Forwarded-For: 10.0.0.1', 'x-forwarded-for: 127.12.0.1', 'podns: fuzz', 'podname: bound', 'podname: bound2', 'podns:', 'podname: ../../x',
    'Content-Type: application/json', 'Content-Type: text/plain', 'Accept: */*', 'User-Agent: fuzz', 'Authorization: Bearer not-a-token', 'Cookie: a=b',
    `X-Long: ${'y'.repeat(4_000)}`, 'Connection: upgrade', 'Upgrade: websocket', 'Expect: 100-continue',
    'X-Utf8: ümlaut', 'Proxy-Authorization: Basic eA==', 'Keep-Alive: timeout=1', 'Host: 169.254.169.254',
  );
  const invalid = fc.constantFrom(`X-Huge: ${'z'.repeat(20_000)}`, 'Content-Length: 0', 'Transfer-Encoding: chunked', 'Content-Length: -1', 'Content-Length: abc', 'Transfer-Encoding: gzip', 'Bad Header: x', 'X-Ctl: a\u0001b', 'X-Nul: a\u0000b', 'NoColonHere', ' folded: continuation', ': empty-name');
  const extra = fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: invalid, weight: 1 });
  return fc.tuple(fc.array(metadata, { maxLength: 2 }), fc.array(extra, { maxLength: 4 })).map(([a, b]) => [...a, ...b]);
}

const bodyArb: fc.Arbitrary<BodyShape> = fc.oneof(
  { arbitrary: fc.constant<BodyShape>({ kind: 'none' }), weight: 40 },
  { arbitrary: fc.constantFrom('{}', 'not json', '{"resource":"https://management.azure.com/"}', 'resource=https://management.azure.com/', 'q'.repeat(10_000), 'r'.repeat(70_000)).map((text): BodyShape => ({ kind: 'length', text })), weight: 15 },
  { arbitrary: fc.constantFrom('{}', 'abcdef').map((text): BodyShape => ({ kind: 'short-length', text })), weight: 5 },
  { arbitrary: fc.constantFrom('{}', 's'.repeat(100_000)).map((text): BodyShape => ({ kind: 'chunked', text })), weight: 5 },
  { arbitrary: fc.constant<BodyShape>({ kind: 'bad-chunked' }), weight: 5 },
  { arbitrary: fc.constant<BodyShape>({ kind: 'length-and-chunked', text: '{}' }), weight: 5 },
  { arbitrary: fc.constant<BodyShape>({ kind: 'stalled' }), weight: 1 },
);

function requestArb(ids: FuzzIds): fc.Arbitrary<FuzzRequest> {
  return fc.record({
    method: methodArb,
    path: pathArb,
    params: fc.array(fc.tuple(fc.constantFrom(...PARAMS), fc.option(valueArb(ids), { nil: undefined, freq: 10 })), { maxLength: 6 }),
    version: fc.oneof({ arbitrary: fc.constant('HTTP/1.1'), weight: 16 }, { arbitrary: fc.constant('HTTP/1.0'), weight: 3 }, { arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.1x', 'HTXP/1.1', 'HTTP/0.9'), weight: 1 }),
    host: fc.constantFrom<string | undefined>('169.254.169.254', '169.254.169.254', '169.254.169.254:80', 'localhost', 'evil.example', '', undefined, 'h'.repeat(300)),
    headers: headersArb(),
    body: bodyArb,
  });
}

/** A method and request target (path and query) of the grammar, for tests that drive an app in process (`app.inject`). */
export function requestTargetArb(ids: FuzzIds): fc.Arbitrary<{ readonly method: string; readonly target: string }> {
  return requestArb(ids).map((request) => {
    const query = request.params.map(([name, value]) => (value === undefined ? name : `${name}=${value}`)).join('&');
    return { method: request.method, target: query === '' ? request.path : `${request.path}?${query}` };
  });
}

/** Connections: a source and 1–3 requests, the last one with `Connection: close`. */
export function connectionArb(ids: FuzzIds): fc.Arbitrary<FuzzConnection> {
  return fc.record({
    from: fc.constantFrom<Source>('bound', 'bound', 'bound', 'bound2', 'stranger', 'unknown', 'host'),
    requests: fc.oneof({ arbitrary: fc.array(requestArb(ids), { minLength: 1, maxLength: 1 }), weight: 5 }, { arbitrary: fc.array(requestArb(ids), { minLength: 2, maxLength: 3 }), weight: 1 }),
  });
}

/** A well-formed token request (the "tip" of the grammar): the fuzzer mixes these in so tokens flow. */
export function tokenRequest(params: readonly (readonly [string, string])[]): FuzzRequest {
  return { method: 'GET', path: TOKEN, params, version: 'HTTP/1.1', host: '169.254.169.254', headers: ['Metadata: true'], body: { kind: 'none' } };
}

function renderBody(body: BodyShape): { headers: string[]; bytes: string } {
  switch (body.kind) {
    case 'none':
      return { headers: [], bytes: '' };
    case 'length':
      return { headers: [`Content-Length: ${String(Buffer.byteLength(body.text))}`], bytes: body.text };
    case 'short-length':
      return { headers: [`Content-Length: ${String(Math.max(0, Buffer.byteLength(body.text) - 3))}`], bytes: body.text };
    case 'chunked':
      return { headers: ['Transfer-Encoding: chunked'], bytes: `${Buffer.byteLength(body.text).toString(16)}\r\n${body.text}\r\n0\r\n\r\n` };
    case 'bad-chunked':
      return { headers: ['Transfer-Encoding: chunked'], bytes: 'zz\r\nhello\r\n0\r\n\r\n' };
    case 'stalled':
      return { headers: ['Content-Length: 5'], bytes: 'ab' };
    case 'length-and-chunked':
      return { headers: ['Transfer-Encoding: chunked', `Content-Length: ${String(Buffer.byteLength(body.text))}`], bytes: `${Buffer.byteLength(body.text).toString(16)}\r\n${body.text}\r\n0\r\n\r\n` };
  }
}

/** The bytes of one request; `last` adds `Connection: close` so the server ends the connection. */
export function renderRequest(request: FuzzRequest, last: boolean): string {
  const query = request.params.map(([name, value]) => (value === undefined ? name : `${name}=${value}`)).join('&');
  const target = query === '' ? request.path : `${request.path}?${query}`;
  const body = renderBody(request.body);
  const headers = [...(request.host === undefined ? [] : [`Host: ${request.host}`]), ...request.headers, ...body.headers, ...(last ? ['Connection: close'] : [])];
  return `${request.method} ${target} ${request.version}\r\n${headers.map((header) => `${header}\r\n`).join('')}\r\n${body.bytes}`;
}

/** A request for a report: control characters escaped, long runs of one character shortened. */
export function describeRequest(text: string, max = 400): string {
  const shortened = text.replace(/(.)\1{19,}/gsu, (run, char: string) => `${char}<×${String(run.length)}>`);
  const escaped = JSON.stringify(shortened);
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}
