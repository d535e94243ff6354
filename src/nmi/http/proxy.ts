/**
 * Proxy of every path that is not NMI's own (upstream §3.6): the request goes to the node's IMDS with
 * the same method, path, query, body and headers — minus hop-by-hop headers and `X-Forwarded-For`
 * (IMDS refuses forwarded requests, and a pod must not be able to make NMI's request look forwarded
 * or not) — and IMDS's status, headers and body come back unchanged. Connections to IMDS are pooled.
 * @module
 */
import type { Agent } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

// `expect` too: Node already answered the client's 100-continue and NMI has the whole body (undici refuses it).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect']);
/** undici's codes for a request it will not send as given: the caller's fault (400), not IMDS's (502). */
const UNSENDABLE = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED']);

export interface ProxyRequest {
  readonly method: string;
  readonly rawUrl: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer | undefined;
  readonly signal?: AbortSignal;
}

export interface ProxyResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Readable;
}

export class ImdsProxyError extends Error {
  /** 400: the request cannot be forwarded as it is; 502: IMDS did not answer. */
  readonly status: number;
  constructor(message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, { cause: options.cause });
    this.status = options.status ?? 502;
  }
}

export class ImdsProxy {
  private readonly origin: string;
  /** undici is loaded on the first forwarded request only: its WASM parser costs NMI ~15 MB of RSS. */
  private agent: Promise<Agent> | undefined;
  private readonly timeoutMs: number;

  constructor(options: { readonly metadataIp: string; readonly metadataPort: number; readonly timeoutMs?: number }) {
    this.origin = `http://${options.metadataIp}:${String(options.metadataPort)}`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async forward(incoming: ProxyRequest): Promise<ProxyResponse> {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(incoming.headers)) {
      const lower = name.toLowerCase();
      if (value === undefined || HOP_BY_HOP.has(lower) || lower === 'x-forwarded-for') continue;
      headers[lower] = value;
    }
    const path = incoming.rawUrl.startsWith('/') ? incoming.rawUrl : `/${incoming.rawUrl}`;
    try {
      const { request } = await import('undici');
      const response = await request(`${this.origin}${path}`, {
        method: incoming.method as 'GET',
        headers,
        ...(incoming.body === undefined || incoming.body.length === 0 ? {} : { body: incoming.body }),
        dispatcher: await this.pool(),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        ...(incoming.signal === undefined ? {} : { signal: incoming.signal }),
      });
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase())) out[name] = value;
      }
      return { status: response.statusCode, headers: out, body: response.body };
    } catch (error) {
      if (UNSENDABLE.has(String((error as { code?: unknown }).code))) {
        throw new ImdsProxyError(`request cannot be forwarded to the instance metadata service: ${(error as Error).message}`, { cause: error, status: 400 });
      }
      throw new ImdsProxyError(`instance metadata service at ${this.origin} unreachable: ${(error as Error).message}`, { cause: error });
    }
  }

  private pool(): Promise<Agent> {
    this.agent ??= import('undici').then(({ Agent: Pool }) => new Pool({ connections: 10, keepAliveTimeout: 30_000, connectTimeout: this.timeoutMs }));
    return this.agent;
  }

  async close(): Promise<void> {
    await (await this.agent)?.close();
  }
}
