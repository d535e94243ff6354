/**
 * Test-side helpers for the client scenarios: a clean environment for @azure/identity and
 * azure-identity, running one scenario script in its own process (each process picks its IMDS
 * endpoint and token cache once), and verifying tokens with the keys the simulated Entra ID publishes.
 */
import { request } from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { requestText, type TextResponse } from '../../src/lib/http-request.ts';
import { run } from '../../src/devenv/exec.ts';
import type { ClientResult } from './node/report.ts';

export const CLIENTS_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Variables that would steer the SDKs away from IMDS, to another identity or through a proxy. */
const STEERING_VARIABLES = [
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'IDENTITY_SERVER_THUMBPRINT',
  'IMDS_ENDPOINT',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_TENANT_ID',
  'AZURE_AUTHORITY_HOST',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'AZURE_TOKEN_CREDENTIALS',
  'AZURE_REGIONAL_AUTHORITY_NAME',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
  'http_proxy',
  'https_proxy',
  'all_proxy',
];

/** This process's environment without anything that steers the SDKs, plus `extra`. */
export function clientEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !STEERING_VARIABLES.includes(name)));
  return { ...env, NO_PROXY: 'localhost,127.0.0.1', no_proxy: 'localhost,127.0.0.1', ...extra };
}

/** The single JSON line a scenario script printed. */
export function parseResultLine(stdout: string, stderr: string, what: string): ClientResult {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as ClientResult;
  } catch {
    throw new Error(`${what}: no result line.\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
}

/** Runs `test/clients/node/<script>` on this Node with `scenario` as its argument. */
export async function runNodeClient(script: string, scenario: object, env: NodeJS.ProcessEnv): Promise<ClientResult> {
  const file = path.join(CLIENTS_DIR, 'node', script);
  const result = await run(process.execPath, [file, JSON.stringify(scenario)], { env, timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`${script} exited ${result.code}:\n${result.stderr}${result.stdout}`);
  return parseResultLine(result.stdout, result.stderr, script);
}

/** GET over HTTPS trusting `caPem`; resolves on any status. */
export function httpsGet(url: string, caPem: string, headers: Record<string, string> = {}): Promise<TextResponse> {
  return requestText(request(url, { method: 'GET', ca: caPem, headers, agent: false, signal: AbortSignal.timeout(10_000) }));
}

/** The signing keys, found as a relying party would: OpenID discovery, then `jwks_uri`. */
export async function discoverSigningKeys(entraUrl: string, tenantId: string, caPem: string): Promise<JWTVerifyGetKey> {
  const discovery = await httpsGet(`${entraUrl}/${tenantId}/v2.0/.well-known/openid-configuration`, caPem);
  if (discovery.status !== 200) throw new Error(`openid-configuration: ${discovery.status} ${discovery.body}`);
  const { jwks_uri: jwksUri } = JSON.parse(discovery.body) as { jwks_uri: string };
  const keys = await httpsGet(jwksUri, caPem);
  if (keys.status !== 200) throw new Error(`jwks: ${keys.status} ${keys.body}`);
  return createLocalJWKSet(JSON.parse(keys.body) as JSONWebKeySet);
}

/** The claims of a token whose signature verifies with `keys` (RS256 only). */
export async function verifiedClaims(token: string, keys: JWTVerifyGetKey): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, keys, { algorithms: ['RS256'] });
  return payload;
}

/** The token of a successful result; fails the test with the client's error otherwise. */
export function tokenOf(result: ClientResult): string {
  if (!result.ok) throw new Error(`client failed: ${result.errorName}: ${result.message}`);
  return result.token;
}
