/**
 * The attack catalogue of the adversarial suite (issue 8), as {@link Probe}s: which raw request, to
 * which address, under which kind. Pure; the scenario decides who sends them.
 * @module
 */
import type { Scale } from './counts.ts';
import { IMDS_IP } from '../../src/devenv/netns.ts';
import type { Probe } from './adversarial-judge.ts';
import {
  generatedPathTricks,
  PATH_TRICKS,
  query,
  rawRequest,
  SELECTOR_PARAMS,
  selectorValue,
  TOKEN_PATH,
  tokenQuery,
  type AdvIdentity,
  type SelectorParam,
} from './adversarial-requests.ts';

export const NMI_PORT = 2579;
export const HOST_TOKEN_PORT = 2580;
const TIMEOUT_MS = 15_000;

/** A request to the metadata address (intercepted by NMI's DNAT). */
export function viaImds(raw: string, timeoutMs = TIMEOUT_MS): Probe['request'] {
  return { raw, host: IMDS_IP, port: 80, timeoutMs };
}

/** A request straight to an address and port (no DNAT involved). */
export function direct(raw: string, host: string, port: number, timeoutMs = TIMEOUT_MS, localAddress?: string): Probe['request'] {
  return { raw, host, port, timeoutMs, ...(localAddress === undefined ? {} : { localAddress }) };
}

const tokenTarget = (pairs: readonly (readonly [string, string])[] = []): string => `${TOKEN_PATH}?${tokenQuery(pairs)}`;

/** A plain token request (Metadata: true) naming `identity` by `param` (none: the pod's default). */
export function tokenProbe(kind: string, identity: AdvIdentity | undefined, param: SelectorParam = 'client_id', variant: 'as-is' | 'upper' = 'as-is'): Probe {
  if (identity === undefined) return { kind, description: 'token request without a selector', request: viaImds(rawRequest(tokenTarget())) };
  const value = variant === 'upper' ? selectorValue(identity, param).toUpperCase() : selectorValue(identity, param);
  return { kind, description: `token request ${param}=<${identity.name}${variant === 'upper' ? ', upper case' : ''}>`, request: viaImds(rawRequest(tokenTarget([[param, value]]))) };
}

/** Asks for each of `targets` by every selector (and, at full scale or `withCase`, upper-cased values). */
export function selectorAttacks(kind: string, targets: readonly AdvIdentity[], scale: Scale, withDefault = true): Probe[] {
  const probes: Probe[] = withDefault ? [tokenProbe(kind, undefined)] : [];
  for (const target of targets) {
    for (const param of SELECTOR_PARAMS) probes.push(tokenProbe(kind, target, param));
    probes.push(tokenProbe(kind, target, 'client_id', 'upper'), tokenProbe(kind, target, 'msi_res_id', 'upper'));
    if (scale === 'full') for (const param of SELECTOR_PARAMS) probes.push(tokenProbe(kind, target, param, 'upper'));
  }
  return probes;
}

/** What a bound pod legitimately asks for its own identity (each one must get it). */
export function legitProbes(own: AdvIdentity, full: boolean): Probe[] {
  const params: SelectorParam[] = full ? [...SELECTOR_PARAMS] : ['client_id', 'msi_res_id'];
  return [undefined, ...params].map((param) => ({ ...tokenProbe('legit', param === undefined ? undefined : own, param), expect: own.name }));
}

/** Spoofed `podname`/`podns` and forwarding headers on the token path (NMI goes by source address). */
export function headerAttacks(victim: { namespace: string; name: string; ip: string }, target: AdvIdentity): Probe[] {
  const ask: [string, string][] = [['client_id', target.clientId]];
  const spoofs: [string, [string, string][]][] = [
    ['podname/podns of the victim', [['podname', victim.name], ['podns', victim.namespace]]],
    ['X-Forwarded-For: victim IP', [['X-Forwarded-For', victim.ip]]],
    ['X-Forwarded-For: 127.0.0.1', [['X-Forwarded-For', '127.0.0.1']]],
    ['Forwarded: for=victim IP', [['Forwarded', `for=${victim.ip}`]]],
    ['X-Real-IP / X-Client-IP / True-Client-IP: victim IP', [['X-Real-IP', victim.ip], ['X-Client-IP', victim.ip], ['True-Client-IP', victim.ip]]],
    ['Host: 127.0.0.1:2580', [['Host', `127.0.0.1:${String(HOST_TOKEN_PORT)}`]]],
  ];
  const probes: Probe[] = spoofs.map(([what, headers]) => ({ kind: 'spoofed_headers', description: `token path with ${what}`, request: viaImds(rawRequest(tokenTarget(ask), [['Metadata', 'true'], ...headers])) }));
  probes.push(
    { kind: 'spoofed_headers', description: 'Metadata header twice', request: viaImds(rawRequest(tokenTarget(ask), [['Metadata', 'true'], ['Metadata', 'true']])) },
    { kind: 'spoofed_headers', description: 'Metadata: True', request: viaImds(rawRequest(tokenTarget(ask), [['Metadata', 'True']])) },
    { kind: 'spoofed_headers', description: 'podname/podns of the victim, no selector', request: viaImds(rawRequest(tokenTarget(), [['Metadata', 'true'], ['podname', victim.name], ['podns', victim.namespace]])) },
  );
  return probes;
}

/** `/host/token` with the victim's podname/podns, from a pod: through the metadata address and directly. */
export function hostTokenAttacks(victim: { namespace: string; name: string }, nodeIp: string): Probe[] {
  const headers: [string, string][] = [['podname', victim.name], ['podns', victim.namespace], ['Metadata', 'true']];
  const q = query([['resource', 'https://management.azure.com/']]);
  const paths = [`/host/token?${q}`, `/host/token/?${q}`, `/host/token?${q}&podname=${victim.name}&podns=${victim.namespace}`, `//host/token?${q}`, `/HOST/TOKEN?${q}`, `/host/%74oken?${q}`, `/host/token/../token?${q}`, `http://127.0.0.1:${String(HOST_TOKEN_PORT)}/host/token?${q}`];
  const probes: Probe[] = paths.map((path) => ({ kind: 'host_token', description: `${path.split('?')[0] ?? path} with spoofed podname/podns via ${IMDS_IP}`, request: viaImds(rawRequest(path, headers)) }));
  probes.push(
    { kind: 'host_token', description: '/host/token with Host: 127.0.0.1:2580', request: viaImds(rawRequest(`/host/token?${q}`, headers, 'GET', `127.0.0.1:${String(HOST_TOKEN_PORT)}`)) },
    { kind: 'host_token', description: `/host/token straight to NMI's token listener ${nodeIp}:${String(NMI_PORT)}`, request: direct(rawRequest(`/host/token?${q}`, headers, 'GET', `${nodeIp}:${String(NMI_PORT)}`), nodeIp, NMI_PORT) },
    { kind: 'host_token', description: `/host/token straight to ${nodeIp}:${String(HOST_TOKEN_PORT)} (the loopback-only listener)`, request: direct(rawRequest(`/host/token?${q}`, headers, 'GET', `${nodeIp}:${String(HOST_TOKEN_PORT)}`), nodeIp, HOST_TOKEN_PORT, 3_000) },
  );
  return probes;
}

/** Token-path spellings asking for `target` (ci: the fixed list; full: plus `generated` more). */
export function pathAttacks(target: AdvIdentity, generated: number): Probe[] {
  const q = tokenQuery([['client_id', target.clientId]]);
  return [...PATH_TRICKS, ...generatedPathTricks(generated)].map((path) => ({ kind: 'path_trick', description: `path ${JSON.stringify(path.slice(0, 80))}`, request: viaImds(rawRequest(`${path}?${q}`)) }));
}

/** Parameters given twice, in two spellings, or hidden in encodings (`own` is the caller's, `target` not). */
export function duplicateParamAttacks(own: AdvIdentity, target: AdvIdentity): Probe[] {
  const encoded = Array.from(target.clientId, (char) => char).map((char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`).join('');
  const base = `api-version=2018-02-01&resource=${encodeURIComponent('https://management.azure.com/')}`;
  const queries: [string, string][] = [
    ['client_id own then other', `${base}&client_id=${own.clientId}&client_id=${target.clientId}`],
    ['client_id other then own', `${base}&client_id=${target.clientId}&client_id=${own.clientId}`],
    ['resource twice', `${base}&resource=https%3A%2F%2Fvault.azure.net&client_id=${target.clientId}`],
    ['api-version twice', `${base}&api-version=2019-08-01&client_id=${target.clientId}`],
    ['client_id other, msi_res_id own', `${base}&client_id=${target.clientId}&msi_res_id=${encodeURIComponent(own.id)}`],
    ['object_id other, client_id own', `${base}&object_id=${target.principalId}&client_id=${own.clientId}`],
    ['msi_res_id own, mi_res_id other', `${base}&msi_res_id=${encodeURIComponent(own.id)}&mi_res_id=${encodeURIComponent(target.id)}`],
    ['mi_res_id other, msi_res_id own', `${base}&mi_res_id=${encodeURIComponent(target.id)}&msi_res_id=${encodeURIComponent(own.id)}`],
    ['client_id own, client%5Fid other', `${base}&client_id=${own.clientId}&client%5Fid=${target.clientId}`],
    ['CLIENT_ID other', `${base}&CLIENT_ID=${target.clientId}`],
    ['Client_Id other, client_id own', `${base}&Client_Id=${target.clientId}&client_id=${own.clientId}`],
    ['client_id other;client_id own', `${base}&client_id=${target.clientId};client_id=${own.clientId}`],
    ['client_id[] other', `${base}&client_id[]=${target.clientId}`],
    ['client_id percent-encoded other', `${base}&client_id=${encoded}`],
    ['client_id other with NUL', `${base}&client_id=${target.clientId}%00`],
    ['client_id other with a leading space', `${base}&client_id=%20${target.clientId}`],
    ['client_id own+other', `${base}&client_id=${own.clientId}%26client_id%3D${target.clientId}`],
    ['empty client_id then other', `${base}&client_id=&client_id=${target.clientId}`],
  ];
  return queries.map(([what, q]) => ({ kind: 'duplicate_params', description: what, request: viaImds(rawRequest(`${TOKEN_PATH}?${q}`)) }));
}

/** Very long paths, queries and headers (the parser's limits must never turn into a token). */
export function longAttacks(target: AdvIdentity, scale: Scale): Probe[] {
  const ask = `client_id=${target.clientId}`;
  const sizes = scale === 'full' ? [1_000, 4_000, 8_000, 15_000, 16_500, 32_000, 64_000, 256_000] : [8_000, 15_000, 70_000];
  const probes: Probe[] = [];
  for (const size of sizes) {
    const pad = 'a'.repeat(size);
    probes.push(
      { kind: 'long_request', description: `path + ${String(size)} chars`, request: viaImds(rawRequest(`${TOKEN_PATH}/${pad}?${tokenQuery([['client_id', target.clientId]])}`)) },
      { kind: 'long_request', description: `query padded by ${String(size)} chars`, request: viaImds(rawRequest(`${TOKEN_PATH}?${tokenQuery()}&x=${pad}&${ask}`)) },
      { kind: 'long_request', description: `${String(size)}-char header`, request: viaImds(rawRequest(`${TOKEN_PATH}?${tokenQuery([['client_id', target.clientId]])}`, [['Metadata', 'true'], ['X-Pad', pad]])) },
    );
  }
  const many = Array.from({ length: scale === 'full' ? 2_000 : 300 }, (_, index) => `p${String(index)}=${String(index)}`).join('&');
  probes.push(
    { kind: 'long_request', description: 'hundreds of parameters then client_id', request: viaImds(rawRequest(`${TOKEN_PATH}?${tokenQuery()}&${many}&${ask}`)) },
    { kind: 'long_request', description: '10,000-char resource', request: viaImds(rawRequest(`${TOKEN_PATH}?${query([['resource', `https://management.azure.com/${'r'.repeat(10_000)}`], ['client_id', target.clientId]])}`)) },
  );
  return probes;
}

/** Other methods, HTTP/1.0, request smuggling and pipelining on the token path. */
export function methodAttacks(own: AdvIdentity | undefined, target: AdvIdentity): Probe[] {
  const target1 = `${TOKEN_PATH}?${tokenQuery([['client_id', target.clientId]])}`;
  const probes: Probe[] = ['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'].map((method) => ({ kind: 'method_smuggle', description: `${method} token path`, request: viaImds(rawRequest(target1, [['Metadata', 'true']], method)) }));
  const smuggled = `GET ${target1} HTTP/1.1\r\nHost: ${IMDS_IP}\r\nMetadata: true\r\n\r\n`;
  const chunked = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
  const raws: [string, string][] = [
    ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\nConnection: close\r\n\r\n'],
    ['CONNECT to the metadata address', `CONNECT ${IMDS_IP}:80 HTTP/1.1\r\nHost: ${IMDS_IP}:80\r\nMetadata: true\r\n\r\n`],
    ['HTTP/1.0 without Host', `GET ${target1} HTTP/1.0\r\nMetadata: true\r\n\r\n`],
    ['Content-Length and Transfer-Encoding (smuggled GET)', `POST /metadata/versions HTTP/1.1\r\nHost: ${IMDS_IP}\r\nMetadata: true\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`],
    ['chunked POST whose body is a token request', `POST /metadata/instance?api-version=2021-02-01 HTTP/1.1\r\nHost: ${IMDS_IP}\r\nMetadata: true\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`],
    ['request line with tabs and a bare LF', `GET\t${target1}\tHTTP/1.1\nHost: ${IMDS_IP}\nMetadata: true\n\n`],
  ];
  if (own !== undefined) {
    const first = `GET ${TOKEN_PATH}?${tokenQuery([['client_id', own.clientId]])} HTTP/1.1\r\nHost: ${IMDS_IP}\r\nMetadata: true\r\n\r\n`;
    raws.push(['pipelined: own identity, then the other', `${first}GET ${target1} HTTP/1.1\r\nHost: ${IMDS_IP}\r\nMetadata: true\r\nConnection: close\r\n\r\n`]);
  }
  for (const [what, raw] of raws) probes.push({ kind: 'method_smuggle', description: what, request: viaImds(raw, 6_000) });
  return probes;
}
