/**
 * A raw HTTP/1.x client for fuzzing: writes bytes exactly as given (request lines and headers that
 * Node's own client refuses to send) from a chosen source address, reads until the server closes, and
 * splits what came back into responses (1xx skipped; bodies by Content-Length, chunked, or to the end).
 * @module
 */
import { connect } from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Lower-cased names; a repeated header keeps its last value. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface RawExchange {
  readonly responses: readonly RawResponse[];
  /** Bytes received that did not form a complete response (truncated answer). */
  readonly leftover: number;
  /** Why the socket ended other than a clean close by the server ('timeout', an error code), if so. */
  readonly failure?: string;
  /** Everything received, as latin1 text (to look for tokens even in a truncated answer). */
  readonly text: string;
}

/**
 * Sends `request` to `host:port` from `localAddress` and collects the answer until the server closes
 * (or `timeoutMs`). The socket is never half-closed: to Node's HTTP server, a client that half-closes
 * before the answer is a client that left, and it may then close without answering.
 */
export function rawExchange(options: { host: string; port: number; localAddress?: string | undefined; request: Buffer; headMethods: readonly boolean[]; timeoutMs: number }): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = connect({ host: options.host, port: options.port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
    const chunks: Buffer[] = [];
    let failure: string | undefined;
    socket.setTimeout(options.timeoutMs, () => {
      failure = 'timeout';
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      failure ??= error.code ?? error.message;
    });
    socket.on('close', () => {
      const received = Buffer.concat(chunks);
      const parsed = { ...parseResponses(received, options.headMethods), text: received.toString('latin1') };
      resolve(failure === undefined ? parsed : { ...parsed, failure });
    });
    socket.write(options.request);
  });
}

/** Splits a byte stream into HTTP responses; `headMethods[i]` says response i answers a HEAD (no body). */
export function parseResponses(data: Buffer, headMethods: readonly boolean[] = []): Omit<RawExchange, 'text'> {
  const responses: RawResponse[] = [];
  let offset = 0;
  while (offset < data.length) {
    const end = data.indexOf('\r\n\r\n', offset, 'latin1');
    if (end === -1) break;
    const [statusLine = '', ...lines] = data.toString('latin1', offset, end).split('\r\n');
    const status = Number(/^HTTP\/\d\.\d (\d{3})/u.exec(statusLine)?.[1] ?? Number.NaN);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let cursor = end + 4;
    if (status >= 100 && status < 200) {
      offset = cursor;
      continue;
    }
    const noBody = headMethods[responses.length] === true || status === 204 || status === 304;
    let body: Buffer = Buffer.alloc(0);
    if (!noBody && headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', cursor, 'latin1');
        if (lineEnd === -1) return { responses, leftover: data.length - offset };
        const size = Number.parseInt(data.toString('latin1', cursor, lineEnd), 16);
        if (!Number.isFinite(size)) return { responses, leftover: data.length - offset };
        cursor = lineEnd + 2;
        if (size === 0) {
          // Trailers (none expected) end with an empty line.
          const trailerEnd = data.indexOf('\r\n', cursor, 'latin1');
          cursor = trailerEnd === -1 ? data.length : trailerEnd + 2;
          break;
        }
        parts.push(data.subarray(cursor, cursor + size));
        cursor += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (!noBody && headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (!Number.isInteger(length) || cursor + length > data.length) return { responses, leftover: data.length - offset };
      body = data.subarray(cursor, cursor + length);
      cursor += length;
    } else if (!noBody) {
      body = data.subarray(cursor);
      cursor = data.length;
    }
    responses.push({ status, headers, body: body.toString('utf8') });
    offset = cursor;
  }
  return { responses, leftover: data.length - offset };
}
