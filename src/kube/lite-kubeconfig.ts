/**
 * A small kubeconfig loader for processes that must stay lean (NMI): in-cluster configuration (the
 * ServiceAccount token, re-read as the kubelet rotates it, and CA), or a kubeconfig file whose current
 * (or named) context uses a bearer token, a token file or a client certificate. Anything else (exec
 * plugins, auth providers, a proxy) is refused with {@link UnsupportedKubeconfigError}; NMI asks for a
 * ServiceAccount token kubeconfig, MIC hands such files to client-node ({@link ./load-access.ts}).
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Agent as HttpAgent } from 'node:http';
import { nodeHttp } from '../lib/node-http.ts';
import { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import { createSecureContext } from 'node:tls';
import type * as Yaml from 'yaml';
import type { KubeAccess, PreparedRequest } from './access.ts';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Bound ServiceAccount tokens rotate; the kubelet refreshes the file well before expiry. */
const TOKEN_REREAD_MS = 60_000;
/** Idle keep-alive connections close after this long. */
const IDLE_CONNECTION_MS = 30_000;

export class KubeconfigError extends Error {}

/** A kubeconfig this loader reads but cannot honour (exec plugin, auth provider, proxy-url). */
export class UnsupportedKubeconfigError extends KubeconfigError {}

interface NamedEntry<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}

interface RawKubeconfig {
  'current-context'?: string;
  clusters?: NamedEntry<{ server?: string; 'proxy-url'?: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean; 'tls-server-name'?: string }>[];
  users?: NamedEntry<{ token?: string; tokenFile?: string; 'client-certificate'?: string; 'client-certificate-data'?: string; 'client-key'?: string; 'client-key-data'?: string; exec?: unknown; 'auth-provider'?: unknown; username?: string }>[];
  contexts?: NamedEntry<{ cluster?: string; user?: string }>[];
}

interface Settings {
  readonly server: string;
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly insecure: boolean;
  readonly serverName?: string | undefined;
  readonly token?: () => string | undefined;
}

function fileOrData(data: string | undefined, file: string | undefined, base: string): string | undefined {
  if (data !== undefined && data !== '') return Buffer.from(data, 'base64').toString('utf8');
  if (file !== undefined && file !== '') return readFileSync(path.resolve(base, file), 'utf8');
  return undefined;
}

/** A token read from a file, re-read at most every minute. */
function tokenFromFile(file: string): () => string {
  let cached = { value: '', at: -Infinity };
  return () => {
    const now = Date.now();
    if (now - cached.at >= TOKEN_REREAD_MS) cached = { value: readFileSync(file, 'utf8').trim(), at: now };
    return cached.value;
  };
}

function fromKubeconfigFile(file: string, contextName: string | undefined): Settings {
  let raw: RawKubeconfig;
  try {
    // Loaded here only: in-cluster NMI never parses YAML, and the parser costs a few MB.
    const { parse } = createRequire(import.meta.url)('yaml') as typeof Yaml;
    raw = parse(readFileSync(file, 'utf8')) as RawKubeconfig;
  } catch (error) {
    throw new KubeconfigError(`kubeconfig ${file}: ${(error as Error).message}`, { cause: error });
  }
  const base = path.dirname(file);
  const name = contextName ?? raw['current-context'];
  const context = raw.contexts?.find((entry) => entry.name === name)?.context;
  if (context === undefined) throw new KubeconfigError(`kubeconfig ${file}: no context ${JSON.stringify(name ?? '')}`);
  const cluster = raw.clusters?.find((entry) => entry.name === context.cluster)?.cluster;
  if (cluster?.server === undefined) throw new KubeconfigError(`kubeconfig ${file}: context ${JSON.stringify(name)} names no cluster with a server`);
  const user = raw.users?.find((entry) => entry.name === context.user)?.user ?? {};
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    throw new UnsupportedKubeconfigError(`kubeconfig ${file}: user ${JSON.stringify(context.user)} authenticates with an exec plugin or auth provider, which NMI does not run; use a token or a client certificate`);
  }
  if (cluster['proxy-url'] !== undefined && cluster['proxy-url'] !== '') {
    throw new UnsupportedKubeconfigError(`kubeconfig ${file}: cluster ${JSON.stringify(context.cluster)} is reached through a proxy (proxy-url), which NMI does not support`);
  }
  const tokenFile = user.tokenFile;
  const token = user.token;
  return {
    server: cluster.server,
    ca: fileOrData(cluster['certificate-authority-data'], cluster['certificate-authority'], base),
    cert: fileOrData(user['client-certificate-data'], user['client-certificate'], base),
    key: fileOrData(user['client-key-data'], user['client-key'], base),
    insecure: cluster['insecure-skip-tls-verify'] === true,
    serverName: cluster['tls-server-name'],
    ...(token !== undefined && token !== '' ? { token: () => token } : tokenFile !== undefined && tokenFile !== '' ? { token: tokenFromFile(path.resolve(base, tokenFile)) } : {}),
  };
}

function inCluster(env: NodeJS.ProcessEnv): Settings {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (host === '') throw new KubeconfigError('no kubeconfig given and not running in a cluster (KUBERNETES_SERVICE_HOST is not set)');
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    ca: readFileSync(path.join(SERVICE_ACCOUNT_DIR, 'ca.crt'), 'utf8'),
    insecure: false,
    token: tokenFromFile(path.join(SERVICE_ACCOUNT_DIR, 'token')),
  };
}

export interface LoadKubeAccessOptions {
  /** A kubeconfig file; undefined = in-cluster configuration. */
  readonly kubeconfigPath?: string | undefined;
  /** Its context to use; default its current context. */
  readonly context?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Kept-alive connections to the API server with the TLS settings, on node:http(s) rather than undici:
 * undici's WASM HTTP parser brings in V8's WebAssembly compilers (measured in NMI: ~8 MB of `node`
 * binary pages and ~7 MB anonymous). Idle connections close after 30 s, as with undici's Agent before.
 */
function connectionPool(settings: Settings): HttpAgent {
  const pool = { keepAlive: true, timeout: IDLE_CONNECTION_MS };
  if (!settings.server.startsWith('https:')) return new nodeHttp.Agent(pool);
  // One TLS context for all connections: given `ca`/`cert`/`key` instead, every new socket parses them
  // into a context of its own (MIC opens dozens during a wave, and glibc keeps what they freed).
  const secureContext = createSecureContext({
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    ...(settings.cert === undefined ? {} : { cert: settings.cert }),
    ...(settings.key === undefined ? {} : { key: settings.key }),
  });
  return new HttpsAgent({
    ...pool,
    secureContext,
    ...(settings.serverName === undefined ? {} : { servername: settings.serverName }),
    rejectUnauthorized: !settings.insecure,
  });
}

/** Loads access from `kubeconfigPath` (current or named context), else in-cluster configuration. */
export function loadKubeAccess(options: LoadKubeAccessOptions = {}): KubeAccess {
  const settings = options.kubeconfigPath === undefined ? inCluster(options.env ?? process.env) : fromKubeconfigFile(options.kubeconfigPath, options.context);
  const agent = connectionPool(settings);
  const token = settings.token;
  return {
    server: settings.server.replace(/\/+$/, ''),
    prepare(): Promise<PreparedRequest> {
      const value = token?.();
      const headers: Record<string, string> = value === undefined || value === '' ? {} : { Authorization: `Bearer ${value}` };
      return Promise.resolve({ headers, dispatcher: undefined, agent });
    },
  };
}
