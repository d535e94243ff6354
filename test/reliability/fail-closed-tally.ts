/**
 * Pure bookkeeping of the fail-closed suite: the pods' attempt logs (fixtures/pod-token-loop.ts), the
 * IMDS relay's connection log, and the intervals in which pod traffic may legitimately reach the node's
 * IMDS (before NMI's first install; while someone else has deleted the rules). Everything else that
 * reached IMDS from a pod address is a breach.
 * @module
 */

export interface Attempt {
  readonly pod: string;
  readonly start: number;
  readonly end: number;
  readonly outcome: 'http' | 'refused' | 'timeout' | 'error';
  readonly status?: number;
  readonly appid?: string;
  readonly code?: string;
  readonly localPort?: number;
  readonly openedAt?: number;
}

export interface RelayConnection {
  readonly address: string;
  readonly port: number;
  readonly time: number;
}

/** An interval (epoch ms, inclusive) in which our rules were not installed, and why. */
export interface Exposure {
  readonly kind: 'before-first-install' | 'rule-deleted';
  readonly from: number;
  readonly to: number;
  readonly what: string;
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return []; // a half-written last line
      }
    });
}

export function parseAttempts(pod: string, text: string): Attempt[] {
  return jsonLines(text)
    .filter((record) => record['event'] === 'attempt')
    .map((record) => ({ ...(record as unknown as Omit<Attempt, 'pod'>), pod }));
}

export function parseRelay(text: string): RelayConnection[] {
  return jsonLines(text)
    .filter((record) => record['event'] === 'connection')
    .map((record) => ({ address: String(record['remoteAddress']).replace(/^::ffff:/, ''), port: Number(record['remotePort']), time: Number(record['time']) }));
}

export function exposureAt(time: number, exposures: readonly Exposure[]): Exposure | undefined {
  return exposures.find((exposure) => time >= exposure.from && time <= exposure.to);
}

export function overlapsExposure(attempt: Attempt, exposures: readonly Exposure[]): boolean {
  return exposures.some((exposure) => attempt.start <= exposure.to && attempt.end >= exposure.from);
}

export interface RelayTally {
  readonly beforeFirstInstall: number;
  readonly whileRuleDeleted: number;
  /** Pod connections per exposure (its `what`). */
  readonly byExposure: Readonly<Record<string, number>>;
  /** Pod connections that reached IMDS while our rules were installed. */
  readonly breaches: readonly RelayConnection[];
}

/** Sorts every pod connection the relay saw into its exposure, or a breach. */
export function tallyRelay(connections: readonly RelayConnection[], podIps: readonly string[], exposures: readonly Exposure[]): RelayTally {
  let beforeFirstInstall = 0;
  let whileRuleDeleted = 0;
  const breaches: RelayConnection[] = [];
  const byExposure: Record<string, number> = {};
  for (const connection of connections.filter((candidate) => podIps.includes(candidate.address))) {
    const exposure = exposureAt(connection.time, exposures);
    if (exposure !== undefined) byExposure[exposure.what] = (byExposure[exposure.what] ?? 0) + 1;
    if (exposure === undefined) breaches.push(connection);
    else if (exposure.kind === 'before-first-install') beforeFirstInstall++;
    else whileRuleDeleted++;
  }
  return { beforeFirstInstall, whileRuleDeleted, byExposure, breaches };
}

/** The first attempt of `pod` that started at or after `since` and got a token for `appid`. */
export function firstTokenAfter(attempts: readonly Attempt[], pod: string, appid: string, since: number): Attempt | undefined {
  return attempts.find((attempt) => attempt.pod === pod && attempt.start >= since && attempt.status === 200 && attempt.appid === appid);
}

/**
 * Attempts answered over a connection the IMDS relay accepted (same pod address and local port,
 * opened within a second of the relay's record): requests that reached the node's IMDS, kept-alive
 * reuses of an old connection included.
 */
export function answeredByImds(attempts: readonly Attempt[], connections: readonly RelayConnection[], ipOf: (pod: string) => string): Attempt[] {
  return attempts.filter(
    (attempt) =>
      attempt.outcome === 'http' &&
      attempt.localPort !== undefined &&
      connections.some((connection) => connection.address === ipOf(attempt.pod) && connection.port === attempt.localPort && Math.abs(connection.time - (attempt.openedAt ?? 0)) <= 1_000),
  );
}
