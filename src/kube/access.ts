/**
 * How requests reach the API server: the server URL, plus per request the headers (bearer token) and
 * the connection pool (TLS: CA, client certificate). Two sources provide it: a client-node
 * `KubeConfig` (MIC, the CLI: every auth method client-node supports) and {@link ./lite-kubeconfig.ts}
 * (NMI: in-cluster or a kubeconfig with a token or client certificate, without loading client-node,
 * whose generated API costs ~90 MB of memory per process). Code that talks to the API server takes
 * either ({@link KubeTarget}).
 * @module
 */
import type { Agent } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';

export interface PreparedRequest {
  readonly headers: Readonly<Record<string, string>>;
  /** Pooled connections with the TLS settings; undefined = undici's default (plain http). */
  readonly dispatcher: Dispatcher | undefined;
  /**
   * A node:http(s) connection pool with the TLS settings (./lite-kubeconfig.ts): when set, requests go
   * through node:http(s) and `dispatcher` is not used, so the process never loads undici (whose WASM
   * parser brings V8's WebAssembly compilers: ~15 MB of RSS in NMI).
   */
  readonly agent?: Agent | undefined;
}

export interface KubeAccess {
  /** `https://host:port`, without a trailing slash. */
  readonly server: string;
  /**
   * The `fieldManager` query parameter of writes (POST/PUT/PATCH), so `managedFields` name the
   * component ({@link ./client-identity.ts}); undefined leaves it to the API server (User-Agent).
   */
  readonly fieldManager?: string | undefined;
  /**
   * Headers and connection pool for the next request (tokens may rotate between calls). Called once
   * per request and once per watch opening; it may wait (client-side pacing) until `signal` aborts.
   */
  prepare(signal?: AbortSignal): Promise<PreparedRequest>;
}

export type KubeTarget = KubeConfig | KubeAccess;

export function isKubeAccess(target: KubeTarget): target is KubeAccess {
  return typeof (target as Partial<KubeAccess>).prepare === 'function';
}

const converted = new WeakMap<KubeConfig, KubeAccess>();

/** The {@link KubeAccess} of a target; a KubeConfig is adapted once (client-node loaded only then). */
export async function resolveAccess(target: KubeTarget): Promise<KubeAccess> {
  if (isKubeAccess(target)) return target;
  let access = converted.get(target);
  if (access === undefined) {
    const { accessFromKubeConfig } = await import('./client-node-access.ts');
    access = accessFromKubeConfig(target);
    converted.set(target, access);
  }
  return access;
}
