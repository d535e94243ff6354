/**
 * MIC's Prometheus metrics on a registry of their own (never prom-client's global one). Upstream's
 * names are kept exactly — including counters without `_total`, which prom-client does not append —
 * so existing dashboards and alerts keep working; ours are the `aadpodidentity_mic_*` additions.
 * Every label value comes from a closed union, so cardinality is bounded.
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ReconcileOutcome } from '../lib/controller.ts';

/** Upstream's ARM operation names (`operation_type`). */
export const CLOUD_OPERATIONS = ['vm_get', 'vm_update', 'vmss_get', 'vmss_update'] as const;
export type CloudOperation = (typeof CLOUD_OPERATIONS)[number];

/** Upstream's Kubernetes operation names (`operation_type`) that MIC reports. */
export const KUBERNETES_OPERATIONS = ['assigned_identity_addition', 'assigned_identity_deletion', 'assigned_identity_update', 'update_azure_assigned_identity_status'] as const;
export type KubernetesOperation = (typeof KUBERNETES_OPERATIONS)[number];

/** AzureAssignedIdentity writes that have upstream's duration/count metrics. */
export type AssignedIdentityWrite = 'addition' | 'deletion' | 'update';

export type ReconcileResult = ReconcileOutcome<string>['result'];
export const RECONCILE_RESULTS: readonly ReconcileResult[] = ['success', 'requeue', 'retry', 'terminal'];

const ARM_WRITES: readonly CloudOperation[] = ['vm_update', 'vmss_update'];

/** Upstream's buckets (OpenCensus views in pkg/metrics). */
export const ASSIGNED_IDENTITY_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 2, 3, 4, 5, 10];
export const CYCLE_BUCKETS = [0.5, 1, 5, 10, 30, 60, 120, 300, 600, 900, 1200];
/** Pod seen → AAI Assigned: an ARM write is seconds for a VM and up to minutes for a large VMSS. */
export const CONVERGENCE_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600];

export interface MicMetricsOptions {
  /** Also export Node.js process metrics (CPU, memory, event loop lag). Default true. */
  readonly processMetrics?: boolean;
}

/** The histogram/counter pair upstream keeps for each kind of AAI write. */
interface WriteMetrics {
  readonly duration: Histogram;
  readonly count: Counter;
}

export class MicMetrics {
  readonly registry = new Registry();

  private readonly writes: Readonly<Record<AssignedIdentityWrite, WriteMetrics>>;
  private readonly cycleDuration: Histogram;
  private readonly cycleCount: Counter;
  private readonly newLeaderElection: Counter;
  private readonly cloudErrors: Counter<'operation_type'>;
  private readonly cloudDuration: Histogram<'operation_type'>;
  private readonly kubernetesErrors: Counter<'operation_type'>;
  private readonly queueDepth: Gauge;
  private readonly armWrites: Counter<'operation_type'>;
  private readonly convergence: Histogram;
  private readonly reconciles: Counter<'result'>;
  private readonly leader: Gauge;

  constructor(options: MicMetricsOptions = {}) {
    const registers = [this.registry];
    const writeMetrics = (kind: AssignedIdentityWrite): WriteMetrics => ({
      duration: new Histogram({
        name: `aadpodidentity_assigned_identity_${kind}_duration_seconds`,
        help: `Duration in seconds of assigned identity ${kind} operations`,
        buckets: ASSIGNED_IDENTITY_BUCKETS,
        registers,
      }),
      count: new Counter({ name: `aadpodidentity_assigned_identity_${kind}_count`, help: `Total number of assigned identity ${kind} operations`, registers }),
    });
    this.writes = { addition: writeMetrics('addition'), deletion: writeMetrics('deletion'), update: writeMetrics('update') };

    this.cycleDuration = new Histogram({ name: 'aadpodidentity_mic_cycle_duration_seconds', help: 'Duration in seconds for single mic sync cycle', buckets: CYCLE_BUCKETS, registers });
    this.cycleCount = new Counter({ name: 'aadpodidentity_mic_cycle_count', help: 'Total number of cycles executed in mic', registers });
    this.newLeaderElection = new Counter({ name: 'aadpodidentity_mic_new_leader_election_count', help: 'Total number of new leader election in mic', registers });
    this.cloudErrors = new Counter({
      name: 'aadpodidentity_cloud_provider_operations_errors_count',
      help: 'Total number of errors in cloud provider operations',
      labelNames: ['operation_type'],
      registers,
    });
    this.cloudDuration = new Histogram({
      name: 'aadpodidentity_cloud_provider_operations_duration_seconds',
      help: 'Duration in seconds of cloudprovider operations',
      labelNames: ['operation_type'],
      buckets: CYCLE_BUCKETS,
      registers,
    });
    this.kubernetesErrors = new Counter({
      name: 'aadpodidentity_kubernetes_api_operations_errors_count',
      help: 'Total number of errors in kubernetes api operations',
      labelNames: ['operation_type'],
      registers,
    });

    this.queueDepth = new Gauge({ name: 'aadpodidentity_mic_queue_depth', help: 'VM/VMSS targets waiting to be reconciled (queued now or scheduled for later)', registers });
    this.armWrites = new Counter({
      name: 'aadpodidentity_mic_arm_writes_total',
      help: 'ARM identity writes (PATCH) sent to VMs and VM scale sets, failed or not',
      labelNames: ['operation_type'],
      registers,
    });
    this.convergence = new Histogram({
      name: 'aadpodidentity_mic_convergence_seconds',
      help: 'Seconds from MIC first seeing a pod that needs an identity to its AzureAssignedIdentity becoming Assigned',
      buckets: CONVERGENCE_BUCKETS,
      registers,
    });
    this.reconciles = new Counter({ name: 'aadpodidentity_mic_reconcile_total', help: 'VM/VMSS target reconciles by result', labelNames: ['result'], registers });
    this.leader = new Gauge({ name: 'aadpodidentity_mic_is_leader', help: '1 while this replica holds the leader lease, else 0', registers });

    // Known label values start at 0, so rate() and absent() work before the first event.
    for (const operation of CLOUD_OPERATIONS) {
      this.cloudErrors.labels(operation).inc(0);
      this.cloudDuration.zero({ operation_type: operation });
    }
    for (const operation of KUBERNETES_OPERATIONS) this.kubernetesErrors.labels(operation).inc(0);
    for (const operation of ARM_WRITES) this.armWrites.labels(operation).inc(0);
    for (const result of RECONCILE_RESULTS) this.reconciles.labels(result).inc(0);
    this.leader.set(0);
    this.queueDepth.set(0);

    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Prometheus text exposition of every metric. */
  async render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The Content-Type header for {@link render}'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * One AzureAssignedIdentity create/delete/update. As upstream: a success records duration and
   * count; a failure counts a Kubernetes API error (`assigned_identity_<kind>`).
   */
  observeAssignedIdentityWrite(kind: AssignedIdentityWrite, seconds: number, failed: boolean): void {
    if (failed) {
      this.kubernetesErrors.labels(`assigned_identity_${kind}`).inc();
      return;
    }
    const metrics = this.writes[kind];
    metrics.duration.observe(seconds);
    metrics.count.inc();
  }

  /** A failed Kubernetes call other than the AAI writes (`update_azure_assigned_identity_status`). */
  kubernetesApiError(operation: KubernetesOperation): void {
    this.kubernetesErrors.labels(operation).inc();
  }

  /**
   * One ARM call. As upstream: a failure counts an error, a success records its duration. Every
   * identity write (`*_update`) also counts in `aadpodidentity_mic_arm_writes_total`, failed or not.
   */
  observeCloudOperation(operation: CloudOperation, seconds: number, failed: boolean): void {
    if (ARM_WRITES.includes(operation)) this.armWrites.labels(operation).inc();
    if (failed) this.cloudErrors.labels(operation).inc();
    else this.cloudDuration.labels(operation).observe(seconds);
  }

  /** One MIC cycle (a reconcile wave): duration and count, as upstream's sync cycle. */
  observeCycle(seconds: number): void {
    this.cycleDuration.observe(seconds);
    this.cycleCount.inc();
  }

  /** Once per process when leader election starts (upstream semantics, not per won election). */
  leaderElectionStarted(): void {
    this.newLeaderElection.inc();
  }

  setLeader(leading: boolean): void {
    this.leader.set(leading ? 1 : 0);
  }

  setQueueDepth(depth: number): void {
    this.queueDepth.set(depth);
  }

  /** Pod first seen → its AAI Assigned. */
  observeConvergence(seconds: number): void {
    this.convergence.observe(seconds);
  }

  /** One target reconcile's result (from the controller's outcome). */
  observeReconcile(result: ReconcileResult): void {
    this.reconciles.labels(result).inc();
  }
}
