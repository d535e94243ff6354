import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { LeaderElector } from '../../src/kube/leader-election.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { kubeConfig, uniqueNamespace } from '../harness/context.ts';

// Lease-based leader election against a real API server: one leader at a time, fast handover when
// the leader shuts down, takeover only after the lease expired when a holder vanished without release.

const timing = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 400 };

function elector(namespace: string, identity: string): LeaderElector {
  return new LeaderElector({ kubeConfig: kubeConfig(), namespace, name: 'aad-pod-identity-mic', identity, logger: pino({ level: 'silent' }), ...timing });
}

async function holder(namespace: string): Promise<string | undefined> {
  const lease = (await rawRequest(kubeConfig(), { method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/aad-pod-identity-mic` })) as {
    spec?: { holderIdentity?: string };
  };
  return lease.spec?.holderIdentity;
}

describe('LeaderElector (Lease)', () => {
  it('elects exactly one of two candidates and hands over quickly when the leader stops', async () => {
    const namespace = await uniqueNamespace('lease');
    const a = elector(namespace, 'mic-a');
    const b = elector(namespace, 'mic-b');
    const stopA = new AbortController();
    const stopB = new AbortController();
    const runA = a.run(stopA.signal);
    const runB = b.run(stopB.signal);
    try {
      await Promise.race([a.waitForLeadership(stopA.signal), b.waitForLeadership(stopB.signal)]);
      const [leader, follower, stopLeader, runLeader] = a.isLeader() ? [a, b, stopA, runA] : [b, a, stopB, runB];
      // Several renew periods later, still exactly one leader, and the lease names it.
      await new Promise((resolve) => setTimeout(resolve, 3 * timing.retryPeriodMs));
      expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
      expect(await holder(namespace)).toBe(leader === a ? 'mic-a' : 'mic-b');

      const handoverStarted = Date.now();
      stopLeader.abort();
      await runLeader;
      expect(leader.isLeader()).toBe(false);
      await vi.waitFor(() => { expect(follower.isLeader()).toBe(true); }, { timeout: 5000, interval: 50 });
      // Released, so the follower does not wait for the lease to expire.
      expect(Date.now() - handoverStarted).toBeLessThan(timing.leaseDurationMs);
      expect(leader.lost.aborted).toBe(false);
    } finally {
      stopA.abort();
      stopB.abort();
      await Promise.all([runA, runB]);
    }
  });

  it('takes over from a holder that vanished only after the lease duration', async () => {
    const namespace = await uniqueNamespace('lease');
    await rawRequest(kubeConfig(), {
      method: 'POST',
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      body: {
        metadata: { name: 'aad-pod-identity-mic' },
        spec: { holderIdentity: 'crashed-mic', leaseDurationSeconds: 3, renewTime: new Date().toISOString().replace('Z', '000Z'), leaseTransitions: 0 },
      },
    });
    const candidate = elector(namespace, 'mic-new');
    const stop = new AbortController();
    const started = Date.now();
    const running = candidate.run(stop.signal);
    try {
      await candidate.waitForLeadership(stop.signal);
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(timing.leaseDurationMs);
      expect(await holder(namespace)).toBe('mic-new');
    } finally {
      stop.abort();
      await running;
    }
  });

  it('aborts `lost` when another candidate steals the lease', async () => {
    const namespace = await uniqueNamespace('lease');
    const candidate = elector(namespace, 'mic-a');
    const stop = new AbortController();
    const running = candidate.run(stop.signal);
    try {
      await candidate.waitForLeadership(stop.signal);
      const path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/aad-pod-identity-mic`;
      const lease = (await rawRequest(kubeConfig(), { method: 'GET', path })) as { spec: Record<string, unknown> };
      await rawRequest(kubeConfig(), { method: 'PUT', path, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } } });
      await vi.waitFor(() => { expect(candidate.lost.aborted).toBe(true); }, { timeout: 5000, interval: 50 });
      expect(candidate.isLeader()).toBe(false);
    } finally {
      stop.abort();
      await running;
    }
  });
});
