import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ASSIGNED_IDENTITY_BUCKETS, CYCLE_BUCKETS, MicMetrics } from '../../../src/mic/metrics.ts';

/** `name{labels} value` lines of the exposition, without HELP/TYPE lines. */
function samples(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

function typeOf(text: string, name: string): string | undefined {
  return new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(text)?.[1];
}

describe('MicMetrics exposition', () => {
  it('uses upstream names and types exactly (no _total on upstream counters)', async () => {
    const text = await new MicMetrics({ processMetrics: false }).render();
    const expected: Record<string, string> = {
      aadpodidentity_assigned_identity_addition_duration_seconds: 'histogram',
      aadpodidentity_assigned_identity_addition_count: 'counter',
      aadpodidentity_assigned_identity_deletion_duration_seconds: 'histogram',
      aadpodidentity_assigned_identity_deletion_count: 'counter',
      aadpodidentity_assigned_identity_update_duration_seconds: 'histogram',
      aadpodidentity_assigned_identity_update_count: 'counter',
      aadpodidentity_mic_cycle_duration_seconds: 'histogram',
      aadpodidentity_mic_cycle_count: 'counter',
      aadpodidentity_mic_new_leader_election_count: 'counter',
      aadpodidentity_cloud_provider_operations_errors_count: 'counter',
      aadpodidentity_cloud_provider_operations_duration_seconds: 'histogram',
      aadpodidentity_kubernetes_api_operations_errors_count: 'counter',
      aadpodidentity_mic_queue_depth: 'gauge',
      aadpodidentity_mic_arm_writes_total: 'counter',
      aadpodidentity_mic_convergence_seconds: 'histogram',
      aadpodidentity_mic_reconcile_total: 'counter',
      aadpodidentity_mic_is_leader: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) expect(typeOf(text, name), name).toBe(type);
    const declared = [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]);
    expect(declared.sort()).toEqual(Object.keys(expected).sort());
    expect(text).not.toMatch(/_count_total|_count\{[^}]*\}_total/);
  });

  it('declares the known label values up front, with upstream label names', async () => {
    const lines = samples(await new MicMetrics({ processMetrics: false }).render());
    for (const operation of ['vm_get', 'vm_update', 'vmss_get', 'vmss_update']) {
      expect(lines).toContain(`aadpodidentity_cloud_provider_operations_errors_count{operation_type="${operation}"} 0`);
      expect(lines).toContain(`aadpodidentity_cloud_provider_operations_duration_seconds_count{operation_type="${operation}"} 0`);
    }
    for (const operation of ['assigned_identity_addition', 'assigned_identity_deletion', 'assigned_identity_update', 'update_azure_assigned_identity_status']) {
      expect(lines).toContain(`aadpodidentity_kubernetes_api_operations_errors_count{operation_type="${operation}"} 0`);
    }
    expect(lines).toContain('aadpodidentity_mic_arm_writes_total{operation_type="vm_update"} 0');
    expect(lines).toContain('aadpodidentity_mic_arm_writes_total{operation_type="vmss_update"} 0');
    for (const result of ['success', 'requeue', 'retry', 'terminal']) expect(lines).toContain(`aadpodidentity_mic_reconcile_total{result="${result}"} 0`);
    expect(lines).toContain('aadpodidentity_mic_is_leader 0');
    expect(lines).toContain('aadpodidentity_mic_queue_depth 0');
  });

  it('uses upstream buckets', async () => {
    const metrics = new MicMetrics({ processMetrics: false });
    metrics.observeAssignedIdentityWrite('addition', 0.03, false);
    metrics.observeCycle(2);
    const lines = samples(await metrics.render());
    const buckets = (name: string): string[] =>
      lines.filter((line) => line.startsWith(`${name}_bucket{`)).map((line) => /le="([^"]+)"/.exec(line)?.[1] ?? '');
    expect(buckets('aadpodidentity_assigned_identity_addition_duration_seconds')).toEqual([...ASSIGNED_IDENTITY_BUCKETS.map(String), '+Inf']);
    expect(buckets('aadpodidentity_mic_cycle_duration_seconds')).toEqual([...CYCLE_BUCKETS.map(String), '+Inf']);
    expect(CYCLE_BUCKETS).toEqual([0.5, 1, 5, 10, 30, 60, 120, 300, 600, 900, 1200]);
    expect(ASSIGNED_IDENTITY_BUCKETS[0]).toBe(0.01);
    expect(ASSIGNED_IDENTITY_BUCKETS.at(-1)).toBe(10);
  });
});

describe('MicMetrics recording', () => {
  it('records AAI writes like upstream: success → duration and count, failure → kubernetes API error', async () => {
    const metrics = new MicMetrics({ processMetrics: false });
    metrics.observeAssignedIdentityWrite('addition', 0.2, false);
    metrics.observeAssignedIdentityWrite('addition', 0.1, true);
    metrics.observeAssignedIdentityWrite('deletion', 0.1, false);
    metrics.observeAssignedIdentityWrite('update', 0.1, true);
    metrics.kubernetesApiError('update_azure_assigned_identity_status');
    const lines = samples(await metrics.render());
    expect(lines).toContain('aadpodidentity_assigned_identity_addition_count 1');
    expect(lines).toContain('aadpodidentity_assigned_identity_addition_duration_seconds_count 1');
    expect(lines).toContain('aadpodidentity_assigned_identity_addition_duration_seconds_sum 0.2');
    expect(lines).toContain('aadpodidentity_assigned_identity_deletion_count 1');
    expect(lines).toContain('aadpodidentity_assigned_identity_update_count 0');
    expect(lines).toContain('aadpodidentity_kubernetes_api_operations_errors_count{operation_type="assigned_identity_addition"} 1');
    expect(lines).toContain('aadpodidentity_kubernetes_api_operations_errors_count{operation_type="assigned_identity_update"} 1');
    expect(lines).toContain('aadpodidentity_kubernetes_api_operations_errors_count{operation_type="update_azure_assigned_identity_status"} 1');
  });

  it('records ARM calls: errors or durations as upstream, and every identity write', async () => {
    const metrics = new MicMetrics({ processMetrics: false });
    metrics.observeCloudOperation('vmss_get', 0.4, false);
    metrics.observeCloudOperation('vmss_update', 12, false);
    metrics.observeCloudOperation('vmss_update', 3, true);
    metrics.observeCloudOperation('vm_get', 1, true);
    const lines = samples(await metrics.render());
    expect(lines).toContain('aadpodidentity_cloud_provider_operations_duration_seconds_count{operation_type="vmss_get"} 1');
    expect(lines).toContain('aadpodidentity_cloud_provider_operations_duration_seconds_count{operation_type="vmss_update"} 1');
    expect(lines).toContain('aadpodidentity_cloud_provider_operations_duration_seconds_sum{operation_type="vmss_update"} 12');
    expect(lines).toContain('aadpodidentity_cloud_provider_operations_errors_count{operation_type="vmss_update"} 1');
    expect(lines).toContain('aadpodidentity_cloud_provider_operations_errors_count{operation_type="vm_get"} 1');
    expect(lines).toContain('aadpodidentity_mic_arm_writes_total{operation_type="vmss_update"} 2');
    expect(lines).toContain('aadpodidentity_mic_arm_writes_total{operation_type="vm_update"} 0');
    expect(lines.some((line) => line.startsWith('aadpodidentity_mic_arm_writes_total{operation_type="vmss_get"'))).toBe(false);
  });

  it('records cycles, elections, leadership, queue depth, convergence and reconcile results', async () => {
    const metrics = new MicMetrics({ processMetrics: false });
    metrics.observeCycle(3);
    metrics.leaderElectionStarted();
    metrics.setLeader(true);
    metrics.setQueueDepth(7);
    metrics.observeConvergence(4.5);
    metrics.observeReconcile('success');
    metrics.observeReconcile('retry');
    metrics.observeReconcile('retry');
    const lines = samples(await metrics.render());
    expect(lines).toContain('aadpodidentity_mic_cycle_count 1');
    expect(lines).toContain('aadpodidentity_mic_cycle_duration_seconds_sum 3');
    expect(lines).toContain('aadpodidentity_mic_new_leader_election_count 1');
    expect(lines).toContain('aadpodidentity_mic_is_leader 1');
    expect(lines).toContain('aadpodidentity_mic_queue_depth 7');
    expect(lines).toContain('aadpodidentity_mic_convergence_seconds_count 1');
    expect(lines).toContain('aadpodidentity_mic_convergence_seconds_bucket{le="5"} 1');
    expect(lines).toContain('aadpodidentity_mic_reconcile_total{result="success"} 1');
    expect(lines).toContain('aadpodidentity_mic_reconcile_total{result="retry"} 2');
    metrics.setLeader(false);
    expect(samples(await metrics.render())).toContain('aadpodidentity_mic_is_leader 0');
  });
});

describe('MicMetrics registry', () => {
  it('keeps instances apart and leaves prom-client’s global registry alone', async () => {
    const before = (await globalRegistry.metrics()).length;
    const first = new MicMetrics({ processMetrics: false });
    const second = new MicMetrics({ processMetrics: false });
    first.observeCycle(1);
    expect(samples(await second.render())).toContain('aadpodidentity_mic_cycle_count 0');
    expect((await globalRegistry.metrics()).length).toBe(before);
  });

  it('adds Node.js process metrics by default', async () => {
    const metrics = new MicMetrics();
    const text = await metrics.render();
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});
