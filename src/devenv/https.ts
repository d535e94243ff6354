import { request } from 'node:https';
import { requestText, type TextResponse } from '../lib/http-request.ts';

export interface TlsClient {
  readonly caPem: string;
  readonly certPem?: string;
  readonly keyPem?: string;
}

/** GET over TLS with our own CA (and optionally a client cert). Rejects only on network errors. */
export function httpsGet(url: string, tls: TlsClient, timeoutMs = 5_000): Promise<TextResponse> {
  return requestText(
    request(url, {
      method: 'GET',
      ca: tls.caPem,
      cert: tls.certPem,
      key: tls.keyPem,
      agent: false,
      signal: AbortSignal.timeout(timeoutMs),
    }),
  );
}
