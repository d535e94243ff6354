/**
 * Pods that keep asking for tokens through a change on the node (test/e2e/fixtures/token-loop.ts in a
 * pod namespace), and the count of what they got: every attempt is a token whose signature verifies
 * and whose identity is the pod's, or a failure.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpsGet } from '../clients/harness.ts';
import { nodeCommand, waitForLogLine, type NetnsTopology, type PodNamespace } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { imdsTokenUrl } from './nmi-e2e.ts';

export const TOKEN_LOOP = fileURLToPath(new URL('../e2e/fixtures/token-loop.ts', import.meta.url));

export interface TokenAttempt {
  readonly seq: number;
  /** Wall-clock start (ms since the epoch). */
  readonly at: number;
  readonly ms: number;
  readonly ok: boolean;
  readonly status: number;
  /** The attempt went over a kept-alive connection. */
  readonly reused: boolean;
  readonly appid?: string;
  readonly mirid?: string;
  readonly error?: string;
}

/** Writes the simulated Entra ID's public signing keys (OpenID discovery, then `jwks_uri`) to `file`. */
export async function writeJwks(sim: { entraUrl: string; tenantId: string; caPem: string }, file: string): Promise<string> {
  const discovery = await httpsGet(`${sim.entraUrl}/${sim.tenantId}/v2.0/.well-known/openid-configuration`, sim.caPem);
  if (discovery.status !== 200) throw new Error(`openid-configuration: ${String(discovery.status)} ${discovery.body}`);
  const keys = await httpsGet((JSON.parse(discovery.body) as { jwks_uri: string }).jwks_uri, sim.caPem);
  if (keys.status !== 200) throw new Error(`jwks: ${String(keys.status)} ${keys.body}`);
  await writeFile(file, keys.body);
  return file;
}

export interface TokenLoopOptions {
  readonly jwks: string;
  readonly resource: string;
  readonly keepAlive: boolean;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  /** Upper bound on the loop's life (it is stopped earlier with SIGTERM). */
  readonly maxMs: number;
}

export interface TokenLoop {
  readonly pod: PodNamespace;
  readonly process: ManagedProcess;
  attempts(): Promise<TokenAttempt[]>;
  /** SIGTERM: ends after the attempt in flight. */
  stop(): Promise<void>;
}

/** Starts the loop in `pod`, asking `http://169.254.169.254/…/token` as any pod would. */
export async function startTokenLoop(topo: NetnsTopology, pod: PodNamespace, name: string, options: TokenLoopOptions): Promise<TokenLoop> {
  const intervalMs = options.intervalMs ?? 200;
  const [file, args] = nodeCommand(TOKEN_LOOP, [
    '--url', imdsTokenUrl({ resource: options.resource }),
    '--jwks', options.jwks,
    '--interval-ms', String(intervalMs),
    '--timeout-ms', String(options.timeoutMs ?? 2_000),
    '--max-ms', String(options.maxMs),
    '--max-attempts', String(Math.ceil(options.maxMs / intervalMs) + 10),
    ...(options.keepAlive ? ['--keep-alive'] : []),
  ]);
  const proc = await topo.start(pod.name, name, file, args);
  await waitForLogLine(proc, (line) => line.includes('"event":"started"'));
  return {
    pod,
    process: proc,
    attempts: async () => parseAttempts(await readFile(proc.logPath, 'utf8')),
    stop: () => proc.stop(5_000),
  };
}

/** The attempt lines of a loop's log. */
export function parseAttempts(log: string): TokenAttempt[] {
  return log
    .split('\n')
    .filter((line) => line.includes('"event":"attempt"'))
    .map((line) => JSON.parse(line) as TokenAttempt);
}

export interface AttemptCount {
  readonly attempts: number;
  /** Verified tokens naming the expected identity. */
  readonly tokens: number;
  /** Anything else: errors, non-200, tokens of another identity. */
  readonly failures: number;
  readonly failed: readonly TokenAttempt[];
  /** Longest time between two successive tokens (ms), from attempt starts. */
  readonly longestGapMs: number;
}

/** Counts `attempts` started in [from, to] against the identity (client ID) the pod must get. */
export function countAttempts(attempts: readonly TokenAttempt[], clientId: string, from = 0, to = Number.POSITIVE_INFINITY): AttemptCount {
  const window = attempts.filter((attempt) => attempt.at >= from && attempt.at <= to);
  const good = (attempt: TokenAttempt): boolean => attempt.ok && attempt.appid === clientId;
  const failed = window.filter((attempt) => !good(attempt));
  let longestGapMs = 0;
  let last: number | undefined;
  for (const attempt of window.filter(good)) {
    if (last !== undefined) longestGapMs = Math.max(longestGapMs, attempt.at - last);
    last = attempt.at;
  }
  return { attempts: window.length, tokens: window.length - failed.length, failures: failed.length, failed, longestGapMs };
}

/** A short description of failed attempts for an assertion message. */
export function describeFailures(failed: readonly TokenAttempt[], limit = 10): string {
  return failed
    .slice(0, limit)
    .map((attempt) => `#${String(attempt.seq)} at ${new Date(attempt.at).toISOString()} ${String(attempt.ms)} ms status ${String(attempt.status)}${attempt.reused ? ' (reused socket)' : ''}: ${attempt.error ?? `appid ${String(attempt.appid)}`}`)
    .join('\n');
}

/** `<dir>/<name>` for a loop's keys file. */
export function jwksPath(dir: string): string {
  return path.join(dir, 'entra-jwks.json');
}
