/**
 * Leader election with client-go's semantics: a candidate takes the lock when its holder has not
 * renewed it for the lease duration *as observed locally* (so clock skew between nodes does not
 * matter), the leader renews every `retryPeriodMs`, and gives up when its renew attempts have failed
 * for `renewDeadlineMs` (counted from the first failed one, as client-go). On shutdown the leader
 * releases the lock (empty holder) so a successor takes over at once instead of after the lease
 * duration.
 *
 * The lock is a `coordination.k8s.io/v1` Lease, or (`endpointsleases`) upstream aad-pod-identity's
 * Endpoints lock and that Lease together, as client-go's MultiLock did: a MIC of upstream's, which
 * sees only the Endpoints, and ours then never lead at once during a rolling switch (the decisions in
 * {@link ./leader-record.ts}, the objects in {@link ./leader-locks.ts}).
 * @module
 */
import type { KubeTarget } from './access.ts';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../lib/clock.ts';
import { describeError } from '../lib/errors.ts';
import type { LeadershipGate } from '../lib/lifecycle.ts';
import { leaderLock, type LeaderLock, type LeaderLockKind } from './leader-locks.ts';
import { decideRound, type Observation } from './leader-record.ts';

export interface LeaderElectionOptions {
  readonly kubeConfig: KubeTarget;
  readonly namespace: string;
  readonly name: string;
  /** Default `leases`; `endpointsleases` also holds upstream's Endpoints lock of the same name. */
  readonly lock?: LeaderLockKind;
  /** This candidate's identity (pod name by default). */
  readonly identity: string;
  /** Default 15 s (upstream MIC's default). */
  readonly leaseDurationMs?: number;
  /** Default half the lease duration. */
  readonly renewDeadlineMs?: number;
  /** Default a quarter of the lease duration. */
  readonly retryPeriodMs?: number;
  /**
   * How often a candidate reads the lease; default the retry period, at most {@link CANDIDATE_POLL_MS}.
   * A candidate counts the lease from when it *saw* the holder's last renewal, so a slow poll adds its
   * period to every failover.
   */
  readonly candidatePollMs?: number;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Called on every transition, for metrics. */
  readonly onTransition?: (leading: boolean) => void;
}

/**
 * Candidates read the lease at least this often: they see the holder's last renewal within 1 s and
 * take over within lease duration + 2 s of a leader's death (TARGETS.md), instead of lease + two
 * retry periods (22.5 s with the 15 s default lease). One GET a second per standby replica.
 */
export const CANDIDATE_POLL_MS = 1_000;

export class LeaderElector implements LeadershipGate {
  private readonly options: Required<Omit<LeaderElectionOptions, 'onTransition' | 'clock' | 'lock'>> & Pick<LeaderElectionOptions, 'onTransition'>;
  private readonly clock: Clock;
  private readonly lock: LeaderLock;
  private readonly lostController = new AbortController();
  private readonly leadershipWaiters: (() => void)[] = [];
  private leading = false;
  /** The last lock record we saw and when we saw it change (local clock). */
  private observed: Observation | undefined;

  constructor(options: LeaderElectionOptions) {
    const leaseDurationMs = options.leaseDurationMs ?? 15_000;
    const retryPeriodMs = options.retryPeriodMs ?? leaseDurationMs / 4;
    this.options = {
      ...options,
      leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs ?? leaseDurationMs / 2,
      retryPeriodMs,
      candidatePollMs: options.candidatePollMs ?? Math.min(retryPeriodMs, CANDIDATE_POLL_MS),
    };
    if (this.options.renewDeadlineMs >= leaseDurationMs) throw new Error('leader election: renew deadline must be shorter than the lease duration');
    if (this.options.retryPeriodMs >= this.options.renewDeadlineMs) throw new Error('leader election: retry period must be shorter than the renew deadline');
    this.clock = options.clock ?? systemClock;
    this.lock = leaderLock(options.lock ?? 'leases', { kubeConfig: options.kubeConfig, namespace: options.namespace, name: options.name });
  }

  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  /** Whether this process holds the lease now (for /healthz "Active"). */
  isLeader(): boolean {
    return this.leading;
  }

  /** The holder seen last (for diagnostics). */
  currentHolder(): string | undefined {
    return this.observed?.holder;
  }

  waitForLeadership(signal: AbortSignal): Promise<void> {
    if (this.leading || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.leadershipWaiters.push(resolve);
      signal.addEventListener('abort', () => { resolve(); }, { once: true });
    });
  }

  /** Campaigns, then renews, until `signal` aborts (then releases) or leadership is lost. */
  async run(signal: AbortSignal): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs, logger } = this.options;
    const log = logger.child({ lease: this.lock.description, identity: this.options.identity });
    // A function, because the abort happens while we await (TypeScript narrows a plain read).
    const stopped = (): boolean => signal.aborted;
    // Acquire.
    while (!signal.aborted && !this.leading) {
      try {
        if (await this.withDeadline((deadline) => this.tryAcquireOrRenew(deadline))) {
          this.leading = true;
          log.info('became leader');
          this.options.onTransition?.(true);
          for (const resolve of this.leadershipWaiters.splice(0)) resolve();
          break;
        }
      } catch (error) {
        log.warn({ err: describeError(error) }, 'leader election: could not read or write the lease');
      }
      await this.clock.sleep(this.options.candidatePollMs, signal).catch(() => undefined);
    }
    // Renew. As client-go, the renew deadline runs from the first failed attempt of a round (a
    // retry period after the last success), not from the last success: a leader tolerates an API
    // server outage of up to retryPeriod + renewDeadline (11.25 s with a 15 s lease), which is
    // still shorter than the lease duration after which candidates take over.
    let failingSince: number | undefined;
    while (!signal.aborted && this.leading) {
      // After a failed attempt, try again at the candidates' pace: a short window between two outages
      // is then enough to renew. (Every retry period, an API server restart followed 1.4 s later by a
      // 3 s disconnect cost the MIC fault suite's leader its lease, the attempts falling in both.)
      await this.clock.sleep(failingSince === undefined ? retryPeriodMs : this.options.candidatePollMs, signal).catch(() => undefined);
      if (stopped()) break;
      const attemptAt = this.clock.now();
      try {
        if (await this.withDeadline((deadline) => this.tryAcquireOrRenew(deadline))) {
          failingSince = undefined;
          continue;
        }
        log.warn({ holder: this.observed?.holder }, 'lease taken by another candidate');
      } catch (error) {
        log.warn({ err: describeError(error) }, 'leader election: renew failed');
        failingSince ??= attemptAt;
        if (this.clock.now() - failingSince < renewDeadlineMs) continue;
      }
      this.leading = false;
      log.error('lost leadership');
      this.options.onTransition?.(false);
      this.lostController.abort(new Error('lost leadership'));
      return;
    }
    if (this.leading) await this.release(log);
  }

  /**
   * Runs one lease round with a deadline of half a retry period. Without it a request that is never
   * answered (a black-holed connection; undici waits 300 s for headers) would keep a leader that can
   * no longer renew believing it leads long after its lease expired for the others: two leaders.
   * With it, a leader that cannot renew gives up after 0.75 × the lease, as when the API server refuses.
   */
  private async withDeadline<T>(round: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ms = Math.max(1, this.options.retryPeriodMs / 2);
    const controller = new AbortController();
    const cancel = this.clock.setTimer(ms, () => {
      controller.abort(new Error(`lease request not answered within ${ms} ms`));
    });
    try {
      return await round(controller.signal);
    } finally {
      cancel();
    }
  }

  /** One round of client-go's tryAcquireOrRenew; true when we hold the lock afterwards. */
  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const snapshot = await this.lock.read(signal);
    const now = this.clock.now();
    const decision = decideRound({ current: snapshot.current, previous: this.observed, identity: this.options.identity, now, leaseDurationMs: this.options.leaseDurationMs });
    this.observed = decision.observation;
    if (decision.kind === 'held') return false;
    if (!(await this.lock.write(decision.record, snapshot, signal))) return false;
    // What we wrote is not what the next read returns byte for byte: that read starts a new observation.
    this.observed = { key: WRITTEN, holder: this.options.identity, at: now };
    return true;
  }

  private async release(log: Logger): Promise<void> {
    try {
      if (await this.lock.release(this.options.identity, this.clock.now())) log.info('released the lease');
    } catch (error) {
      log.warn({ err: describeError(error) }, 'could not release the lease; a successor waits for it to expire');
    } finally {
      this.leading = false;
      this.options.onTransition?.(false);
    }
  }
}

/** Observation key after our own write; never equal to a key read from the API server. */
const WRITTEN = '\u0000written';
