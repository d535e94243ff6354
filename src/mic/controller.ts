/**
 * MIC's control loop, wired: informer events mark the view dirty; the view is recomputed on the next
 * turn of the event loop, or during a burst after a pause paid for by the last recompute's cost (at most
 * the debounce: refresh-schedule.ts), and only the targets whose inputs changed are queued; workers reconcile targets
 * (never one target twice at once, per-target backoff, Retry-After honoured: retry-policy.ts); a
 * drift check re-reads targets that hold assignments, spread over its interval. Each refresh also
 * hands the readiness gate's controller (readiness-controller.ts) its chance to queue pods; both
 * loops run here, on the leader.
 * @module
 */
import type { Logger } from 'pino';
import type { Clock, CancelTimer } from '../lib/clock.ts';
import { runController, type ReconcileOutcome } from '../lib/controller.ts';
import { describeError } from '../lib/errors.ts';
import { WorkQueue } from '../lib/work-queue.ts';
import type { MicInformers } from './informers.ts';
import type { ReadinessController } from './readiness-controller.ts';
import { refreshDelayMs, type LastRefresh } from './refresh-schedule.ts';
import type { TargetReconciler } from './reconcile-target.ts';
import { MIC_RETRY_POLICY } from './retry-policy.ts';
import type { TargetState } from './target-state.ts';
import type { MicView } from './view.ts';

export interface MicControllerOptions {
  readonly informers: MicInformers;
  readonly view: MicView;
  readonly reconciler: Pick<TargetReconciler, 'reconcile'>;
  /** The reconciler's per-target state: drift checks ask it which targets to re-read. */
  readonly targetState: Pick<TargetState, 'hasCachedIdentities' | 'requestRefresh'>;
  readonly readiness: Pick<ReadinessController, 'queueStale' | 'run'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The longest a change waits for the view's recompute during a burst. */
  readonly debounceMs: number;
  /** A monotonic millisecond clock that measures what a recompute cost (default `performance.now`). */
  readonly stopwatch?: () => number;
  readonly workers: number;
  /** Every this often, each target holding assignments is re-read from ARM (0 disables). */
  readonly driftCheckIntervalMs: number;
  /** Every this often, every target is reconciled from the caches (upstream's --syncRetryDuration; 0 disables). */
  readonly resyncIntervalMs?: number;
  readonly onOutcome?: (outcome: ReconcileOutcome<string>) => void;
  readonly onQueueDepth?: (depth: number) => void;
}

export class MicController {
  private readonly options: MicControllerOptions;
  private readonly queue: WorkQueue;
  private readonly stopwatch: () => number;
  private refreshTimer: CancelTimer | undefined;
  private lastRefresh: LastRefresh | undefined;
  private active = false;

  constructor(options: MicControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue({ clock: options.clock, backoff: MIC_RETRY_POLICY.reconcileBackoff });
    this.stopwatch = options.stopwatch ?? (() => performance.now());
  }

  /** True while the loop runs (leader with synced caches): /healthz answers "Active". */
  isActive(): boolean {
    return this.active;
  }

  get queueDepth(): number {
    return this.queue.length + this.queue.delayedCount;
  }

  /** Runs until `signal` aborts. Call on the leader only; the informers must already be running. */
  async run(signal: AbortSignal): Promise<void> {
    const { informers, logger } = this.options;
    for (const informer of informers.all) {
      informer.onChange(() => {
        this.scheduleRefresh();
      });
    }
    await Promise.all(informers.all.map((informer) => informer.waitForSync(signal)));
    if (signal.aborted) return;
    logger.info({ pods: informers.pods.size, identities: informers.identities.size, bindings: informers.bindings.size, assigned: informers.assigned.size }, 'caches synced; reconciling');
    this.active = true;
    this.refreshNow();
    const stopDrift = this.startDriftChecks(signal);
    const stopResync = this.startResync(signal);
    try {
      await Promise.all([
        runController(
          {
            name: 'targets',
            queue: this.queue,
            workers: this.options.workers,
            now: () => this.options.clock.now(),
            retryAfterFloorMs: MIC_RETRY_POLICY.retryAfterFloorMs,
            reconcile: (key, reconcileSignal) => this.options.reconciler.reconcile(key, reconcileSignal),
            onOutcome: (outcome) => {
              if (outcome.result === 'retry' || outcome.result === 'terminal') {
                logger.warn({ target: outcome.key, err: describeError(outcome.error), retryInMs: outcome.retryInMs }, 'reconcile failed');
              }
              this.options.onOutcome?.(outcome);
              this.options.onQueueDepth?.(this.queueDepth);
            },
          },
          signal,
        ),
        this.options.readiness.run(signal),
      ]);
    } finally {
      this.active = false;
      stopDrift();
      stopResync();
      this.refreshTimer?.();
    }
  }

  private scheduleRefresh(): void {
    this.options.view.markDirty();
    if (this.refreshTimer !== undefined || !this.active) return;
    const { clock, debounceMs } = this.options;
    this.refreshTimer = clock.setTimer(refreshDelayMs(this.lastRefresh, clock.now(), debounceMs), () => {
      this.refreshTimer = undefined;
      this.refreshNow();
    });
  }

  private refreshNow(): void {
    const started = this.stopwatch();
    const changed = this.options.view.refresh();
    this.lastRefresh = { at: this.options.clock.now(), costMs: this.stopwatch() - started };
    for (const key of changed) this.queue.add(key);
    this.options.onQueueDepth?.(this.queueDepth);
    this.options.readiness.queueStale();
  }

  /** Reconciles every target now and then from the caches: a safety net, not the main path. */
  private startResync(signal: AbortSignal): () => void {
    const interval = this.options.resyncIntervalMs ?? 0;
    if (interval <= 0) return () => undefined;
    let cancel: CancelTimer | undefined;
    const round = (): void => {
      if (signal.aborted) return;
      this.options.view.markDirty();
      this.options.view.refresh();
      for (const key of this.options.view.targetKeys()) this.queue.add(key);
      cancel = this.options.clock.setTimer(interval, round);
    };
    cancel = this.options.clock.setTimer(interval, round);
    return () => cancel?.();
  }

  /** Re-reads targets that hold assignments, each at a random point of every interval. */
  private startDriftChecks(signal: AbortSignal): () => void {
    const interval = this.options.driftCheckIntervalMs;
    if (interval <= 0) return () => undefined;
    let cancel: CancelTimer | undefined;
    const round = (): void => {
      if (signal.aborted) return;
      for (const key of this.options.view.targetKeys()) {
        if (!this.options.targetState.hasCachedIdentities(key)) continue;
        this.options.targetState.requestRefresh(key);
        this.queue.addAfter(key, Math.floor(Math.random() * interval));
      }
      cancel = this.options.clock.setTimer(interval, round);
    };
    cancel = this.options.clock.setTimer(interval, round);
    return () => cancel?.();
  }
}
