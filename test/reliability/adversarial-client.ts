/**
 * The attacker's client, run inside a pod (or node) network namespace by the adversarial suite: reads
 * a JSON batch of raw HTTP requests on stdin, sends each byte for byte over its own TCP connection
 * (optionally from a chosen local address), and prints one JSON line per request with the status, a
 * short excerpt of the answer and the claims of every JWT in it. Tokens never leave this process: the
 * excerpt has them masked and only selected claims are printed.
 * @module
 */
import { rawExchange } from './raw-http.ts';

export interface ClientRequest {
  readonly id: string;
  /** The request exactly as sent (latin1), e.g. `GET /x HTTP/1.1\r\nHost: …\r\n\r\n`. */
  readonly raw: string;
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly timeoutMs: number;
}

export interface TokenClaims {
  readonly appid?: string;
  readonly oid?: string;
  readonly xms_mirid?: string;
  readonly aud?: string;
}

export interface ClientResult {
  readonly id: string;
  /** `answered`, or why not: `timeout`, `ECONNREFUSED`, `ECONNRESET`, … */
  readonly outcome: string;
  /** Status of the first response (0 when none). */
  readonly status: number;
  readonly excerpt: string;
  readonly claims: readonly TokenClaims[];
}

const JWT = /eyJ[A-Za-z0-9_-]{8,}\.(eyJ[A-Za-z0-9_-]{8,})\.[A-Za-z0-9_-]*/g;

function claimsOf(text: string): TokenClaims[] {
  const found: TokenClaims[] = [];
  for (const match of text.matchAll(JWT)) {
    try {
      const payload = JSON.parse(Buffer.from(match[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
      const pick = (name: string): Record<string, string> => (typeof payload[name] === 'string' ? { [name]: payload[name] } : {});
      found.push({ ...pick('appid'), ...pick('oid'), ...pick('xms_mirid'), ...pick('aud') });
    } catch {
      found.push({}); // a JWT-shaped string we cannot read still counts as a token
    }
  }
  return found;
}

async function send(request: ClientRequest): Promise<ClientResult> {
  const exchange = await rawExchange({ host: request.host, port: request.port, localAddress: request.localAddress, request: Buffer.from(request.raw, 'latin1'), headMethods: [], timeoutMs: request.timeoutMs });
  // The status line even of a truncated answer; tokens anywhere in what came back.
  const status = exchange.responses[0]?.status ?? Number(/^HTTP\/1\.[01] (\d{3})/.exec(exchange.text)?.[1] ?? '0');
  const body = exchange.responses[0]?.body ?? exchange.text.slice(exchange.text.indexOf('\r\n\r\n') + 4);
  return {
    id: request.id,
    outcome: status > 0 ? 'answered' : (exchange.failure ?? 'closed'),
    status,
    excerpt: body.replace(JWT, '<jwt>').slice(0, 240),
    claims: claimsOf(exchange.text),
  };
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const batch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { requests: ClientRequest[]; concurrency: number };
  const queue = [...batch.requests];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) process.stdout.write(`${JSON.stringify(await send(next))}\n`);
  };
  await Promise.all(Array.from({ length: Math.max(1, batch.concurrency) }, worker));
}

if (import.meta.main) await main();
