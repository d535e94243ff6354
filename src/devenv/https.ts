import { request } from 'node:https';

export interface TlsClient {
  readonly caPem: string;
  readonly certPem?: string;
  readonly keyPem?: string;
}

/** GET over TLS with our own CA (and optionally a client cert). Rejects only on network errors. */
export function httpsGet(url: string, tls: TlsClient, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: tls.caPem,
        cert: tls.certPem,
        key: tls.keyPem,
        agent: false,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
