/**
 * Raw JSON requests to the API server with the kubeconfig's authentication and TLS, for what the
 * generated clients make awkward: paginated lists of any resource as plain JSON (the typed clients
 * turn timestamps into Date objects, while watch events carry strings), and patches with an explicit
 * content type.
 * @module
 */
import { resolveAccess, type KubeTarget } from './access.ts';
import type { ListPage } from './informer.ts';
import { sendKubeRequest } from './transport.ts';

/** An API server answer other than 2xx, with the Status object's reason and message. */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string;

  constructor(method: string, path: string, statusCode: number, reason: string, message: string) {
    super(`${method} ${path}: ${statusCode} ${reason}: ${message}`);
    this.name = 'KubeApiError';
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

/** Whether `error` is an API error with this HTTP status (e.g. 404, 409). */
export function isStatus(error: unknown, statusCode: number): boolean {
  if (error instanceof KubeApiError) return error.statusCode === statusCode;
  const code = (error as { code?: unknown; statusCode?: unknown } | null) ?? {};
  return code.code === statusCode || code.statusCode === statusCode;
}

export interface RawRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly body?: unknown;
  /** Default `application/json`; e.g. `application/json-patch+json` for JSON patches. */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

/** The verbs whose options carry `fieldManager` (DELETE's do not). */
const WRITES: ReadonlySet<RawRequest['method']> = new Set(['POST', 'PUT', 'PATCH']);

export async function rawRequest(target: KubeTarget, request: RawRequest): Promise<unknown> {
  const access = await resolveAccess(target);
  const url = new URL(access.server + request.path);
  for (const [key, value] of Object.entries(request.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  if (access.fieldManager !== undefined && WRITES.has(request.method) && !url.searchParams.has('fieldManager')) {
    url.searchParams.set('fieldManager', access.fieldManager);
  }
  const prepared = await access.prepare(request.signal);
  const headers: Record<string, string> = { ...prepared.headers, Accept: 'application/json' };
  if (request.body !== undefined) headers['Content-Type'] = request.contentType ?? 'application/json';
  const response = await sendKubeRequest(url, prepared, {
    method: request.method,
    headers,
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
    signal: request.signal,
  });
  const text = await response.text();
  const parsed: unknown = text === '' ? undefined : JSON.parse(text);
  if (!response.ok) {
    const status = (parsed ?? {}) as { reason?: string; message?: string };
    throw new KubeApiError(request.method, request.path, response.status, status.reason ?? response.statusText, status.message ?? text);
  }
  return parsed;
}

/** A `list` function for {@link ../kube/informer.ts Informer} sources: one page of raw objects. */
export function rawLister(kubeConfig: KubeTarget, path: string) {
  return async (options: { limit: number; continueToken?: string; labelSelector?: string; fieldSelector?: string }): Promise<ListPage> => {
    const list = (await rawRequest(kubeConfig, {
      method: 'GET',
      path,
      query: { limit: options.limit, continue: options.continueToken, labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
    })) as { items?: unknown[]; metadata?: { resourceVersion?: string; continue?: string } };
    return {
      items: list.items ?? [],
      resourceVersion: list.metadata?.resourceVersion ?? '',
      ...(list.metadata?.continue === undefined || list.metadata.continue === '' ? {} : { continueToken: list.metadata.continue }),
    };
  };
}
