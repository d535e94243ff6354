/**
 * Keeps NMI's redirection in place: syncs at start, then every `intervalMs`, restoring whatever was
 * changed. Unlike upstream it never exits on an iptables error (it retries with backoff) and it is
 * fail-closed: stopping leaves the rules, so while NMI is down pods get "connection refused" instead
 * of reaching the node's IMDS with the node's identities. {@link cleanupIptables} is the explicit
 * uninstall.
 * @module
 */
import type { Logger } from 'pino';
import { backoffDelay, type BackoffPolicy } from '../../../lib/backoff.ts';
import { systemClock, type Clock } from '../../../lib/clock.ts';
import { describeError } from '../../../lib/errors.ts';
import type { Runnable } from '../../../lib/lifecycle.ts';
import type { ConntrackFlusher } from './conntrack.ts';
import { observe, observeGuard, type IptablesRunner } from './iptables.ts';
import { planCleanup, planGuard, planGuardCleanup, planSync, preroutingJumpTargets, PREROUTING, redirectsMetadata, validateIptablesConfig, type IptablesCommand, type IptablesConfig, type SyncPlan } from './rules.ts';

export const DEFAULT_IPTABLES_INTERVAL_MS = 5_000;
/** Fast first retries (a held xtables lock clears quickly), capped well below a minute. */
export const IPTABLES_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 30_000, jitter: 0.2 };

export interface IptablesManagerOptions {
  readonly config: IptablesConfig;
  readonly runner: IptablesRunner;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Time between checks after a successful sync; `--ipt-update-interval-sec`. */
  readonly intervalMs?: number;
  readonly backoff?: BackoffPolicy;
  /** Delete IMDS conntrack entries after a sync that changed something (default true). */
  readonly flushConntrack?: boolean;
  /** Required when `flushConntrack` is not false. */
  readonly conntrack?: ConntrackFlusher;
  /**
   * After every sync (with `flushConntrack`): deletes flows picked up from IMDS's side, which pin a
   * pod's connection to IMDS past the DNAT (conntrack.ts). Its failure is logged, never fatal.
   */
  readonly reversePickups?: ConntrackFlusher;
  /**
   * Resolves once this NMI answers pods (its token listener is up). Given, the first install waits for
   * it while another chain already redirects the metadata address — aad-pod-identity's NMI during a
   * migration, or the NMI this one replaces — so no pod is ever sent to a port nobody listens on yet.
   * With no redirect in place, ours goes in at once (fail-closed).
   */
  readonly untilServing?: () => Promise<unknown>;
  /** After every successful sync; the first one means interception is active. */
  readonly onSynced?: () => void;
  /** A sync after the first one had to fix drift. */
  readonly onRestored?: (reason: string) => void;
  /** A sync failed; it will be retried. */
  readonly onError?: (error: unknown) => void;
}

export interface SyncResult extends SyncPlan {
  /** Conntrack entries deleted after applying (0 when not flushed). */
  readonly conntrackDeleted: number;
  /** Flows picked up from IMDS's side that were deleted (pod connections pinned to IMDS). */
  readonly reversePickupsDeleted: number;
}

export class IptablesManager implements Runnable {
  readonly name = 'iptables';
  readonly needsLeader = false;
  private readonly options: IptablesManagerOptions;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  /** Conntrack still to flush: set when a sync changed rules, cleared once a flush succeeded. */
  private conntrackPending = false;

  constructor(options: IptablesManagerOptions) {
    validateIptablesConfig(options.config);
    if (options.flushConntrack !== false && options.conntrack === undefined) {
      throw new TypeError('IptablesManager: flushConntrack needs a conntrack flusher');
    }
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.intervalMs = options.intervalMs ?? DEFAULT_IPTABLES_INTERVAL_MS;
    if (!(this.intervalMs > 0)) throw new RangeError(`iptables interval must be positive, got ${this.intervalMs}`);
  }

  /** One check-and-fix. Throws on any iptables or conntrack failure. */
  async syncOnce(): Promise<SyncResult> {
    const { config, runner } = this.options;
    const observed = await observe(runner, config.chain);
    const redirect = planSync(config, observed);
    if (redirect.commands.length > 0) {
      await runner.apply(redirect.commands);
      this.conntrackPending = this.options.flushConntrack !== false;
    }
    // Only once ours is in place (first in PREROUTING) may a retired chain of ours go. PREROUTING as
    // read is still current unless this sync just changed it.
    const retired = await this.removeRetiredChains(redirect.commands.length === 0 ? observed.prerouting : undefined);
    // The redirect first: the guard alone would refuse pods instead of sending them to NMI.
    const guard = config.guardChain === undefined ? { commands: [], reasons: [] } : planGuard(config, await observeGuard(runner, config.guardChain));
    if (guard.commands.length > 0) await runner.apply(guard.commands, 'filter');
    const plan: SyncPlan = { commands: [...redirect.commands, ...retired.commands, ...guard.commands], reasons: [...redirect.reasons, ...retired.reasons, ...guard.reasons] };
    let conntrackDeleted = 0;
    if (this.conntrackPending && this.options.conntrack !== undefined) {
      conntrackDeleted = await this.options.conntrack(config.metadataIp, config.metadataPort);
      this.conntrackPending = false;
    }
    let reversePickupsDeleted = 0;
    if (this.options.flushConntrack !== false && this.options.reversePickups !== undefined) {
      try {
        reversePickupsDeleted = await this.options.reversePickups(config.metadataIp, config.metadataPort);
      } catch (error) {
        this.options.logger.warn({ err: describeError(error) }, 'deleting conntrack flows picked up from IMDS’s side failed; retried at the next check');
      }
      if (reversePickupsDeleted > 0) this.options.logger.warn({ deleted: reversePickupsDeleted }, 'deleted conntrack flows that kept pod connections on the node’s IMDS past the DNAT');
    }
    return { ...plan, conntrackDeleted, reversePickupsDeleted };
  }

  /** Removes what is left of {@link IptablesConfig.retiredChains} (nothing, on almost every sync). */
  private async removeRetiredChains(prerouting: string | undefined): Promise<SyncPlan> {
    const { config, runner } = this.options;
    const commands: IptablesCommand[] = [];
    const reasons: string[] = [];
    for (const chain of config.retiredChains ?? []) {
      const state = prerouting === undefined || commands.length > 0 ? await observe(runner, chain) : { chain: await runner.listChain(chain), prerouting };
      const removal = planCleanup({ ...config, chain }, state);
      if (removal.length === 0) continue;
      await runner.apply(removal);
      commands.push(...removal);
      reasons.push(`retired chain ${chain} removed`);
    }
    return { commands, reasons };
  }

  /** Other chains jumped to from PREROUTING that redirect the metadata address (not ours). */
  async otherRedirects(): Promise<string[]> {
    const { config, runner } = this.options;
    const prerouting = (await runner.listChain(PREROUTING)) ?? '';
    const others: string[] = [];
    for (const chain of preroutingJumpTargets(prerouting)) {
      if (chain === config.chain) continue;
      const listing = await runner.listChain(chain);
      if (listing !== undefined && redirectsMetadata(config, listing)) others.push(chain);
    }
    return others;
  }

  /** Before the first install: while someone else already redirects pods, wait until this NMI serves. */
  private async deferWhileRedirected(signal: AbortSignal): Promise<void> {
    const { logger, config, untilServing } = this.options;
    if (untilServing === undefined) return;
    let others: string[];
    try {
      others = await this.otherRedirects();
    } catch (error) {
      logger.warn({ err: describeError(error) }, 'could not read the nat table for other redirects; installing at once');
      return;
    }
    if (others.length === 0 || signal.aborted) return;
    logger.info({ chain: config.chain, redirectedBy: others }, 'pods are already redirected by another chain: ours goes in first once this NMI serves tokens');
    const aborted = new Promise<void>((resolve) => { signal.addEventListener('abort', () => { resolve(); }, { once: true }); });
    // A listener that failed is fatal elsewhere; installing then is still fail-closed.
    await Promise.race([untilServing().catch(() => undefined), aborted]);
  }

  /** Runs until `signal` aborts; never removes rules (fail-closed), never throws for iptables errors. */
  async run(signal: AbortSignal): Promise<void> {
    const { logger, config } = this.options;
    await this.deferWhileRedirected(signal);
    let synced = false;
    let failures = 0;
    while (!signal.aborted) {
      let delay = this.intervalMs;
      try {
        const result = await this.syncOnce();
        failures = 0;
        if (result.commands.length > 0) {
          const fields = { chain: config.chain, reasons: result.reasons, commands: result.commands.map((c) => c.join(' ')), conntrackDeleted: result.conntrackDeleted };
          if (synced) logger.warn(fields, 'iptables drift restored');
          else logger.info(fields, 'iptables redirection installed');
        } else if (!synced) {
          logger.info({ chain: config.chain, conntrackDeleted: result.conntrackDeleted }, 'iptables redirection already in place');
        }
        if (synced && result.commands.length > 0) this.options.onRestored?.(result.reasons.join('; '));
        synced = true;
        this.options.onSynced?.();
      } catch (error) {
        failures++;
        delay = backoffDelay(this.options.backoff ?? IPTABLES_BACKOFF, failures);
        logger.error({ err: describeError(error), failures, retryInMs: delay }, 'iptables sync failed; retrying');
        this.options.onError?.(error);
      }
      try {
        await this.clock.sleep(delay, signal);
      } catch {
        break; // aborted: leave every rule in place
      }
    }
    logger.info({ chain: config.chain }, 'iptables manager stopped; rules left in place (fail-closed)');
  }
}

/**
 * Removes the jump(s) and the chain, then the guard, each table in one transaction (for `pod-identity
 * nmi cleanup` and uninstall). Returns the commands it applied (empty when nothing was installed).
 */
export async function cleanupIptables(config: IptablesConfig, runner: IptablesRunner, logger?: Logger): Promise<IptablesCommand[]> {
  validateIptablesConfig(config);
  const redirect: IptablesCommand[] = [];
  for (const chain of [config.chain, ...(config.retiredChains ?? [])]) redirect.push(...planCleanup({ ...config, chain }, await observe(runner, chain)));
  await runner.apply(redirect);
  const guard = config.guardChain === undefined ? [] : planGuardCleanup(config, await observeGuard(runner, config.guardChain));
  await runner.apply(guard, 'filter');
  const commands = [...redirect, ...guard];
  logger?.info({ chain: config.chain, commands: commands.map((c) => c.join(' ')) }, commands.length > 0 ? 'iptables redirection removed' : 'no iptables redirection to remove');
  return commands;
}
