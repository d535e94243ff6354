/**
 * Raw HTTP requests for the adversarial suite: token requests with any selector, and the path, query,
 * header and method tricks of issue 8, built as exact bytes so nothing (curl, Node's client) cleans
 * them up on the way. Pure.
 * @module
 */
import { IMDS_IP } from '../../src/devenv/netns.ts';

export const ARM_RESOURCE = 'https://management.azure.com/';
export const TOKEN_PATH = '/metadata/identity/oauth2/token';

/** The selectors a pod may name an identity by (`mi_res_id` is the newer spelling of `msi_res_id`). */
export type SelectorParam = 'client_id' | 'object_id' | 'msi_res_id' | 'mi_res_id';
export const SELECTOR_PARAMS: readonly SelectorParam[] = ['client_id', 'object_id', 'msi_res_id', 'mi_res_id'];

export interface AdvIdentity {
  /** Short name used in descriptions (`A`, `B`, …). */
  readonly name: string;
  readonly id: string;
  readonly clientId: string;
  readonly principalId: string;
}

export function selectorValue(identity: AdvIdentity, param: SelectorParam): string {
  switch (param) {
    case 'client_id':
      return identity.clientId;
    case 'object_id':
      return identity.principalId;
    case 'msi_res_id':
    case 'mi_res_id':
      return identity.id;
  }
}

/** `a=b&c=d` with values percent-encoded (keys as given, so tricks on names survive). */
export function query(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([key, value]) => `${key}=${encodeURIComponent(value)}`).join('&');
}

export function tokenQuery(extra: readonly (readonly [string, string])[] = []): string {
  return query([['api-version', '2018-02-01'], ['resource', ARM_RESOURCE], ...extra]);
}

/** One request as bytes: `headers` in order (repeats allowed), `Connection: close` last. */
export function rawRequest(target: string, headers: readonly (readonly [string, string])[] = [['Metadata', 'true']], method = 'GET', host = IMDS_IP, body = ''): string {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host}`, ...headers.map(([name, value]) => `${name}: ${value}`), 'Connection: close'];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A case variant of `text`: `upper`, `lower`, `mixed` (every other letter upper). */
export function caseVariant(text: string, variant: 'upper' | 'lower' | 'mixed'): string {
  if (variant === 'upper') return text.toUpperCase();
  if (variant === 'lower') return text.toLowerCase();
  return Array.from(text, (char) => char).map((char, index) => (index % 2 === 0 ? char.toUpperCase() : char.toLowerCase())).join('');
}

/** Token-path spellings that are not the canonical one (issue 8 "path tricks"; CVE-2022-23551 class). */
export const PATH_TRICKS: readonly string[] = [
  '\\metadata\\identity\\oauth2\\token',
  '/metadata\\identity\\oauth2\\token',
  '/metadata/identity\\oauth2/token',
  '/metadata/identity/oauth2/token\\',
  '/metadata%2Fidentity%2Foauth2%2Ftoken',
  '/metadata/identity%2foauth2%2ftoken',
  '/metadata%5Cidentity%5Coauth2%5Ctoken',
  '/metadata%252Fidentity%252Foauth2%252Ftoken',
  '/%6Detadata/identity/oauth2/token',
  '/metadata/identity/oauth2/%74oken',
  '/metadata/identity/oauth2/token%2F',
  '/metadata/identity/oauth2/token%00',
  '/metadata/identity/oauth2/token%20',
  '/metadata/identity/oauth2/token/..',
  '/metadata/identity/oauth2/token/.',
  '/metadata/identity/oauth2/x/../token',
  '/metadata/./identity/oauth2/token',
  '/x/../metadata/identity/oauth2/token',
  '/metadata/identity/../identity/oauth2/token',
  '/metadata/identity/oauth2/token/../../oauth2/token',
  '///metadata/identity/oauth2/token',
  '/metadata//identity/oauth2/token',
  '/metadata/identity//oauth2/token',
  '/metadata/identity/oauth2//token',
  '/METADATA/IDENTITY/OAUTH2/TOKEN',
  '/metadata/Identity/oauth2/token',
  '/metadata/identity/OAuth2/Token',
  '/metadata/identity/oauth2/tokenX',
  '/metadata/identity/oauth2/token/x',
  '/metadata/identity/oauth2/token;x=y',
  '/metadata/identity/oauth2/token%3F',
  '/metadata%EF%BC%8Fidentity%EF%BC%8Foauth2%EF%BC%8Ftoken',
  `http://${IMDS_IP}/metadata/identity/oauth2/token`,
  `http://${IMDS_IP}//metadata/identity/oauth2/token`,
];

/** Deterministic PRNG (mulberry32): the full run's generated variants are the same every time. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEPARATORS = ['/', '\\', '%2F', '%2f', '%5C', '%252F', '//', '/./', '/x/../', '%2E/', '/%2E%2E/identity/'];
const WORDS = ['metadata', 'identity', 'oauth2', 'token'];

/** `count` generated spellings (separators, letter case, a percent-encoded letter, a tail). */
export function generatedPathTricks(count: number, seed = 8): string[] {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const variants = new Set<string>();
  for (let guard = 0; variants.size < count && guard < count * 20; guard++) {
    const words = WORDS.map((word) => {
      const cased = caseVariant(word, pick(['lower', 'lower', 'upper', 'mixed'] as const));
      if (random() < 0.2) {
        const at = Math.floor(random() * cased.length);
        return `${cased.slice(0, at)}%${cased.charCodeAt(at).toString(16).toUpperCase()}${cased.slice(at + 1)}`;
      }
      return cased;
    });
    let path = pick(['/', '/', '//', '\\', '%2F']);
    words.forEach((word, index) => {
      path += word;
      if (index < words.length - 1) path += pick(SEPARATORS);
    });
    path += pick(['', '', '/', '\\', '%2F', '/.', '/..', '%00', ';a']);
    if (path === TOKEN_PATH || path === `/${TOKEN_PATH}` || path === `${TOKEN_PATH}/`) continue;
    variants.add(path);
  }
  return [...variants];
}
