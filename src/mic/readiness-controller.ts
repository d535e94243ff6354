/**
 * The readiness gate's own loop: after each refresh of MIC's view, pods that opted into the
 * identity-ready gate and whose condition is out of date are queued by `namespace/name`; workers
 * re-read the pod from the cache, compare its condition with what the refresh's desired state and
 * AAIs say (readiness-gate.ts decides the value) and patch it. Run by MicController next to the
 * target loop, on the leader only.
 * @module
 */
import type { AzureAssignedIdentity } from '../api/index.ts';
import type { KubeTarget } from '../kube/access.ts';
import type { Clock } from '../lib/clock.ts';
import { runController } from '../lib/controller.ts';
import { WorkQueue } from '../lib/work-queue.ts';
import type { MicInformers } from './informers.ts';
import { objectKey, type DesiredAssignment, type PodInfo } from './model.ts';
import { identityReadiness, needsUpdate, writeIdentityReadiness, type IdentityReadiness } from './readiness-gate.ts';
import { MIC_RETRY_POLICY } from './retry-policy.ts';
import type { MicView } from './view.ts';

export interface ReadinessControllerOptions {
  readonly kubeConfig: KubeTarget;
  readonly informers: Pick<MicInformers, 'pods' | 'assigned'>;
  readonly view: Pick<MicView, 'desiredState' | 'pod'>;
  readonly clock: Clock;
  /** Pods whose condition is written concurrently. */
  readonly workers: number;
}

export class ReadinessController {
  private readonly options: ReadinessControllerOptions;
  private readonly queue: WorkQueue;
  /** Per-pod indexes of the last {@link queueStale}. */
  private byPod = new Map<string, DesiredAssignment[]>();
  private assignedByKey = new Map<string, AzureAssignedIdentity>();

  constructor(options: ReadinessControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue({ clock: options.clock, backoff: MIC_RETRY_POLICY.reconcileBackoff });
  }

  /** Queues gated pods whose condition is out of date (indexes rebuilt once per call: once per view refresh). */
  queueStale(): void {
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
    for (const pod of gated) if (needsUpdate(pod, this.readinessOf(pod))) this.queue.add(objectKey(pod.namespace, pod.name));
  }

  /** Runs the workers until `signal` aborts. */
  run(signal: AbortSignal): Promise<void> {
    const { clock, workers } = this.options;
    return runController(
      { name: 'readiness', queue: this.queue, workers, now: () => clock.now(), retryAfterFloorMs: MIC_RETRY_POLICY.retryAfterFloorMs, reconcile: (key) => this.reconcile(key) },
      signal,
    );
  }

  private readinessOf(pod: PodInfo): IdentityReadiness {
    const mine = this.byPod.get(objectKey(pod.namespace, pod.name)) ?? [];
    const problems = this.options.view.desiredState().problems;
    return identityReadiness(pod, { assignments: new Map(mine.map((entry) => [objectKey(entry.namespace, entry.name), entry])), problems }, this.assignedByKey);
  }

  private async reconcile(key: string): Promise<undefined> {
    const pod = this.options.view.pod(key);
    if (pod === undefined || !pod.readinessGate) return undefined;
    const wanted = this.readinessOf(pod);
    if (!needsUpdate(pod, wanted)) return undefined;
    await writeIdentityReadiness(this.options.kubeConfig, pod, wanted, new Date(this.options.clock.now()));
    return undefined;
  }
}
