/**
 * One HTTP(S) request whose whole answer is wanted as text: for the small probes and token requests of
 * the development tools and tests (node:http / node:https, where fetch cannot bind a source address or
 * take a per-request CA without a dispatcher).
 * @module
 */
import type { ClientRequest, IncomingHttpHeaders } from 'node:http';

/** The status, headers and body (UTF-8) of a finished response. */
export interface TextResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * Sends `request` (built by the caller with node:http or node:https `request()`, not yet ended) with
 * `body`, and resolves with the response once it has ended. Rejects on a request or response error
 * (an abort, a `destroy(error)` on timeout), never because of the status.
 */
export function requestText(request: ClientRequest, body?: string | Buffer): Promise<TextResponse> {
  return new Promise((resolve, reject) => {
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}
