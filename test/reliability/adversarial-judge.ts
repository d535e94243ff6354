/**
 * Runs batches of raw requests from a namespace (adversarial-client.ts under `ip netns exec`) and
 * judges every answer: a token whose claims (appid, oid, xms_mirid) name an identity the caller is not
 * bound to is a breach; a legitimate request is a success only if every token in it is the caller's
 * own expected identity. Counts per attack kind and per status go into the suite's details.
 * @module
 */
import { fileURLToPath } from 'node:url';
import type { NetnsTopology } from '../../src/devenv/netns.ts';
import { nodeCommand } from '../../src/devenv/netns.ts';
import type { CountsBuilder } from './counts.ts';
import type { ClientRequest, ClientResult, TokenClaims } from './adversarial-client.ts';
import type { AdvIdentity } from './adversarial-requests.ts';

const CLIENT = fileURLToPath(new URL('./adversarial-client.ts', import.meta.url));

/** Who sends: a namespace, and the identities it is bound to (by short name). */
export interface Caller {
  /** For descriptions, e.g. `adv-a/app-b on node1`. */
  readonly label: string;
  readonly topo: NetnsTopology;
  readonly ns: string;
  readonly allowed: readonly string[];
}

export interface Probe {
  /** Attack kind (a detail count), or `legit` for a bound pod's own request. */
  readonly kind: string;
  readonly description: string;
  readonly request: Omit<ClientRequest, 'id'>;
  /** Legitimate request: the identity it must get. */
  readonly expect?: string;
}

export class Judge {
  private readonly counts: CountsBuilder;
  private readonly identities: readonly AdvIdentity[];
  private readonly log: (message: string) => void;
  private readonly statuses = new Map<string, Map<string, number>>();
  /** Legitimate requests that did not get their identity (described; not breaches). */
  readonly legitFailures: string[] = [];

  constructor(counts: CountsBuilder, identities: readonly AdvIdentity[], log: (message: string) => void) {
    this.counts = counts;
    this.identities = identities;
    this.log = log;
  }

  /** Which known identity a token's claims name (undefined: none we know — still not the caller's). */
  identityOf(claims: TokenClaims): AdvIdentity | undefined {
    const same = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b.toLowerCase();
    return this.identities.find((identity) => same(claims.appid, identity.clientId) || same(claims.oid, identity.principalId) || same(claims.xms_mirid, identity.id));
  }

  /** Sends `probes` from `caller` (concurrently, bounded) and judges each answer. */
  async run(caller: Caller, probes: readonly Probe[], concurrency = 6): Promise<ClientResult[]> {
    const results = await this.send(caller, probes, concurrency);
    for (const result of results) this.judge(caller, probes[Number(result.id)] as Probe, result);
    return results;
  }

  /** Sends without judging (node-level callers whose answers the suite only reports). */
  async send(caller: Caller, probes: readonly Probe[], concurrency = 6): Promise<ClientResult[]> {
    if (probes.length === 0) return [];
    const requests: ClientRequest[] = probes.map((probe, index) => ({ id: String(index), ...probe.request }));
    const [file, args] = nodeCommand(CLIENT);
    const longest = Math.max(...requests.map((request) => request.timeoutMs));
    const run = await caller.topo.exec(caller.ns, file, args, { input: JSON.stringify({ requests, concurrency }), timeoutMs: longest * Math.ceil(requests.length / concurrency) + 30_000 });
    if (run.code !== 0) throw new Error(`adversarial client in ${caller.ns} exited ${String(run.code)}: ${run.stderr.slice(0, 2_000)}`);
    const results = run.stdout.trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as ClientResult);
    if (results.length !== probes.length) throw new Error(`adversarial client in ${caller.ns}: ${String(results.length)} answers for ${String(probes.length)} requests`);
    return results;
  }

  private judge(caller: Caller, probe: Probe, result: ClientResult): void {
    const status = result.status > 0 ? String(result.status) : result.outcome;
    const named = result.claims.map((claims) => ({ claims, identity: this.identityOf(claims) }));
    for (const { claims, identity } of named) {
      if (identity !== undefined && caller.allowed.includes(identity.name)) continue;
      this.counts.breach(
        `${probe.kind}: ${caller.label} (bound to ${caller.allowed.length === 0 ? 'nothing' : caller.allowed.join(', ')}) got a token for ` +
          `${identity === undefined ? 'an unknown identity' : `identity ${identity.name}`} (appid=${claims.appid ?? '-'} oid=${claims.oid ?? '-'} xms_mirid=${claims.xms_mirid ?? '-'}), HTTP ${status}, by: ${probe.description}`,
      );
    }
    if (probe.expect !== undefined) {
      const ok = result.status === 200 && named.length > 0 && named.every(({ identity }) => identity?.name === probe.expect);
      if (ok) this.counts.successes += 1;
      else {
        this.legitFailures.push(`${caller.label}: ${probe.description} → ${status} ${result.excerpt.slice(0, 160)}`);
        this.log(`adversarial: legitimate request failed: ${caller.label}: ${probe.description} → ${status} ${result.excerpt.slice(0, 160)}`);
      }
      this.counts.count('legit_requests');
      return;
    }
    this.counts.attempts += 1;
    const byStatus = this.statuses.get(probe.kind) ?? new Map<string, number>();
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    this.statuses.set(probe.kind, byStatus);
  }

  /** Writes `<kind>=<attempts> [<status>×<n> …]` for every kind, and `legit_failed`. */
  finish(): void {
    for (const [kind, byStatus] of [...this.statuses.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const total = [...byStatus.values()].reduce((sum, n) => sum + n, 0);
      const parts = [...byStatus.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([status, n]) => `${status}×${String(n)}`);
      this.counts.details[kind] = `${String(total)}[${parts.join(',')}]`;
    }
    this.counts.details['legit_failed'] = this.legitFailures.length;
  }

  /** Attack kinds attempted so far. */
  kinds(): string[] {
    return [...this.statuses.keys()];
  }
}
