/**
 * One request to the API server, through the connection pool a {@link PreparedRequest} carries:
 * node:http(s) with its `agent` (./lite-kubeconfig.ts; Node's HTTP parser is native), else undici's
 * fetch with its `dispatcher` (client-node's KubeConfig), loaded only then. Both give the status and a
 * streamed body; a stalled connection fails after {@link IDLE_TIMEOUT_MS} without a byte, as undici's
 * headers and body timeouts did.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { nodeHttp } from '../lib/node-http.ts';
import { request as httpsRequest } from 'node:https';
import type { PreparedRequest } from './access.ts';

/** undici's default headersTimeout and bodyTimeout; watches see a bookmark about every minute. */
export const IDLE_TIMEOUT_MS = 300_000;

export interface KubeRequestInit {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface KubeResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  /** The body's bytes as they arrive; `null` when there is none. */
  readonly body: AsyncIterable<Uint8Array> | null;
  text(): Promise<string>;
}

export class KubeTransportError extends Error {
  readonly code: string | undefined;
  constructor(message: string, options: { cause?: unknown; code?: string | undefined }) {
    super(message, { cause: options.cause });
    this.name = 'KubeTransportError';
    this.code = options.code;
  }
}

export function sendKubeRequest(url: URL, prepared: PreparedRequest, init: KubeRequestInit): Promise<KubeResponse> {
  return prepared.agent === undefined ? viaUndici(url, prepared, init) : viaNodeHttp(url, prepared, init);
}

async function viaUndici(url: URL, prepared: PreparedRequest, init: KubeRequestInit): Promise<KubeResponse> {
  const { fetch } = await import('undici');
  const response = await fetch(url, {
    method: init.method,
    headers: init.headers,
    ...(prepared.dispatcher === undefined ? {} : { dispatcher: prepared.dispatcher }),
    ...(init.body === undefined ? {} : { body: init.body }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
  return { status: response.status, statusText: response.statusText, ok: response.ok, body: response.body, text: () => response.text() };
}

function viaNodeHttp(url: URL, prepared: PreparedRequest, init: KubeRequestInit): Promise<KubeResponse> {
  const send = url.protocol === 'https:' ? httpsRequest : nodeHttp.request;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(init.body));
    const request = send(url, { method: init.method, headers, agent: prepared.agent, ...(init.signal === undefined ? {} : { signal: init.signal }) });
    request.setTimeout(IDLE_TIMEOUT_MS, () => {
      request.destroy(new KubeTransportError(`${init.method} ${url.pathname}: no data from the API server for ${String(IDLE_TIMEOUT_MS / 1000)} s`, { code: 'ETIMEDOUT' }));
    });
    request.on('error', reject);
    request.on('response', (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      resolve({ status, statusText: response.statusMessage ?? '', ok: status >= 200 && status < 300, body: response, text: () => textOf(response) });
    });
    request.end(init.body);
  });
}

async function textOf(body: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}
