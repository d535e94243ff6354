/**
 * Token traffic of the soak suite: one bounded request from a pod's address to NMI, and the verdict on
 * its answer given what the pod was (bound to an identity, unbound, deleted). Tokens are decoded to
 * check their claims and never printed.
 * @module
 */
import { request } from 'node:http';
import { decodeJwt } from 'jose';

export interface SoakIdentity {
  readonly name: string;
  readonly selector: string;
  /** ARM resource ID of the user-assigned identity. */
  readonly id: string;
  readonly clientId: string;
  /** False for the ghost: an AzureIdentity whose Azure identity does not exist, so MIC can never assign it. */
  readonly assignable: boolean;
}

/** A churned pod as the suite tracks it. */
export interface SoakPod {
  readonly name: string;
  readonly node: string;
  readonly ip: string;
  /** Undefined for an unbound pod (no aadpodidbinding label). */
  readonly identity: SoakIdentity | undefined;
  /** When its IP was patched in (traffic starts then). */
  ipAt: number | undefined;
  /** When its deletion was sent. */
  deletedAt: number | undefined;
  /** Whether NMI has served it a token already. */
  served: boolean;
}

export type TrafficKind = 'bound' | 'unbound' | 'deleted';

export interface TokenAnswer {
  readonly status: number;
  readonly body: string;
}

/** GET of the token path from `from`, bounded by `timeoutMs` (the whole exchange). */
export function timedTokenRequest(port: number, from: string, resource: string, timeoutMs: number): Promise<TokenAnswer> {
  const search = new URLSearchParams({ 'api-version': '2018-02-01', resource });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, localAddress: from, path: `/metadata/identity/oauth2/token?${search.toString()}`, headers: { Metadata: 'true' }, agent: false, signal: AbortSignal.timeout(timeoutMs) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }); });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export type Verdict =
  | { readonly outcome: 'success'; readonly count: string }
  | { readonly outcome: 'error'; readonly count: string }
  | { readonly outcome: 'breach'; readonly count: string; readonly description: string };

/** Which identity a token names (claims only), or why it could not be read. */
function tokenIdentity(body: string): { appid: string; mirid: string } | string {
  try {
    const parsed = JSON.parse(body) as { access_token?: unknown };
    if (typeof parsed.access_token !== 'string') return 'no access_token in a 200 answer';
    const claims = decodeJwt(parsed.access_token);
    const text = (value: unknown): string => (typeof value === 'string' ? value : '');
    return { appid: text(claims['appid']), mirid: text(claims['xms_mirid']).toLowerCase() };
  } catch (error) {
    return `unreadable token: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * The verdict on `answer` for a request `kind` from `pod`. A bound pod must get its own identity's
 * token (any other identity is a breach); once served, a refusal while it still lives is a breach too
 * (nothing about it changed), except 429 (its rate limit). Unbound and deleted pods must be refused.
 */
export function judge(kind: TrafficKind, pod: SoakPod, answer: TokenAnswer): Verdict {
  if (answer.status === 200) {
    const named = tokenIdentity(answer.body);
    const who = `pod ${pod.name} (${kind}${pod.identity === undefined ? '' : `, bound to ${pod.identity.name}`})`;
    if (typeof named === 'string') return { outcome: 'breach', count: 'badTokenAnswers', description: `${who}: ${named}` };
    if (kind !== 'bound' || pod.identity === undefined) {
      return { outcome: 'breach', count: 'tokensToRefusedPods', description: `${who} got a token for appid ${named.appid}` };
    }
    if (named.appid !== pod.identity.clientId || named.mirid !== pod.identity.id.toLowerCase()) {
      return { outcome: 'breach', count: 'wrongIdentityTokens', description: `${who} got a token for appid ${named.appid} (${named.mirid}), not ${pod.identity.clientId}` };
    }
    pod.served = true;
    return { outcome: 'success', count: 'tokensServed' };
  }
  if (kind === 'unbound') return answer.status === 404 ? { outcome: 'success', count: 'unboundRefused' } : { outcome: 'error', count: `unbound${String(answer.status)}` };
  if (kind === 'deleted') return { outcome: 'success', count: 'deletedRefused' };
  if (answer.status === 429) return { outcome: 'error', count: 'rateLimited' };
  if (pod.deletedAt !== undefined) return { outcome: 'error', count: 'boundRefusedWhileDeleted' };
  if (pod.served) {
    return { outcome: 'breach', count: 'servedPodRefused', description: `pod ${pod.name} (bound to ${pod.identity?.name ?? '?'}, served before, still alive) refused ${String(answer.status)}: ${answer.body.slice(0, 200)}` };
  }
  return { outcome: 'error', count: `firstTokenRefused${String(answer.status)}` };
}
