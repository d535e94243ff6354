/**
 * MIC's control loop, wired: informer events mark the view dirty; after a short debounce the view is
 * recomputed once and only the targets whose inputs changed are queued; workers reconcile targets
 * (never one target twice at once, per-target backoff, Retry-After honoured); a drift check re-reads
 * targets that hold assignments, spread over its interval; pods with the identity-ready gate get
 * their condition kept up to date.
 * @module
 */
import type { KubeTarget } from '../kube/access.ts';
import type { Logger } from 'pino';
import type { AzureAssignedIdentity } from '../api/index.ts';
import { objectKey, type DesiredAssignment, type PodInfo } from './model.ts';
import { identityReadiness, needsUpdate, writeIdentityReadiness } from './readiness-gate.ts';
import type { TargetReconciler } from './reconcile-target.ts';
import type { MicView } from './view.ts';
import type { MicInformers } from './informers.ts';
import type { Clock, CancelTimer } from '../lib/clock.ts';
import { runController, type ReconcileOutcome } from '../lib/controller.ts';
import { describeError } from '../lib/errors.ts';
import { WorkQueue } from '../lib/work-queue.ts';

export interface MicControllerOptions {
  readonly kubeConfig: KubeTarget;
  readonly informers: MicInformers;
  readonly view: MicView;
  readonly reconciler: TargetReconciler;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly debounceMs: number;
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
  private readonly podQueue: WorkQueue;
  private refreshTimer: CancelTimer | undefined;
  private active = false;
  /** Per-pod indexes of the last refresh, for the readiness gate. */
  private byPod = new Map<string, DesiredAssignment[]>();
  private assignedByKey = new Map<string, AzureAssignedIdentity>();

  constructor(options: MicControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue({ clock: options.clock });
    this.podQueue = new WorkQueue({ clock: options.clock });
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
        runController(
          { name: 'readiness', queue: this.podQueue, workers: 2, now: () => this.options.clock.now(), reconcile: (key) => this.reconcileReadiness(key) },
          signal,
        ),
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
    this.refreshTimer = this.options.clock.setTimer(this.options.debounceMs, () => {
      this.refreshTimer = undefined;
      this.refreshNow();
    });
  }

  private refreshNow(): void {
    const changed = this.options.view.refresh();
    for (const key of changed) this.queue.add(key);
    this.options.onQueueDepth?.(this.queueDepth);
    this.queueReadiness();
  }

  /** Queues gated pods whose condition is out of date (indexes rebuilt once per refresh). */
  private queueReadiness(): void {
    const gated = this.options.informers.pods.list().filter((pod) => pod.readinessGate);
    if (gated.length === 0) return;
    this.assignedByKey = new Map(this.options.informers.assigned.list().map((entry) => [objectKey(entry.metadata.namespace ?? '', entry.metadata.name ?? ''), entry]));
    this.byPod = new Map();
    for (const entry of this.options.view.desiredState().assignments.values()) {
      const key = objectKey(entry.podNamespace, entry.podName);
      const list = this.byPod.get(key);
      if (list === undefined) this.byPod.set(key, [entry]);
      else list.push(entry);
    }
    for (const pod of gated) if (needsUpdate(pod, this.readinessOf(pod))) this.podQueue.add(objectKey(pod.namespace, pod.name));
  }

  private readinessOf(pod: PodInfo): ReturnType<typeof identityReadiness> {
    const mine = this.byPod.get(objectKey(pod.namespace, pod.name)) ?? [];
    const problems = this.options.view.desiredState().problems;
    return identityReadiness(pod, { assignments: new Map(mine.map((entry) => [objectKey(entry.namespace, entry.name), entry])), problems }, this.assignedByKey);
  }

  private async reconcileReadiness(key: string): Promise<undefined> {
    const pod = this.options.view.pod(key);
    if (pod === undefined || !pod.readinessGate) return undefined;
    const wanted = this.readinessOf(pod);
    if (!needsUpdate(pod, wanted)) return undefined;
    await writeIdentityReadiness(this.options.kubeConfig, pod, wanted, new Date(this.options.clock.now()));
    return undefined;
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
        if (!this.options.reconciler.hasCachedState(key)) continue;
        this.options.reconciler.requestRefresh(key);
        this.queue.addAfter(key, Math.floor(Math.random() * interval));
      }
      cancel = this.options.clock.setTimer(interval, round);
    };
    cancel = this.options.clock.setTimer(interval, round);
    return () => cancel?.();
  }
}
