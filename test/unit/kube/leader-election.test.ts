import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaderElector } from '../../../src/kube/leader-election.ts';
import { ManualClock } from '../../support/manual-clock.ts';

// The renew deadline of a leader, on a manual clock against a one-Lease fake API server that can
// be made unavailable: how long an API server outage the leader rides out.

interface FakeApi {
  readonly kubeConfig: KubeConfig;
  /** Lease writes (create or renew) that succeeded. */
  writes: number;
  /** Requests answered (successfully or not). */
  requests: number;
  down: boolean;
  /** Requests are read and never answered (a black-holed connection). */
  hang: boolean;
  close(): Promise<void>;
}

async function fakeApi(): Promise<FakeApi> {
  let lease: Record<string, unknown> | undefined;
  let version = 0;
  const api = { writes: 0, requests: 0, down: false, hang: false } as FakeApi;
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      api.requests++;
      const send = (status: number, object: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(object));
      };
      if (api.hang) return;
      if (api.down) {
        send(503, { kind: 'Status', reason: 'ServiceUnavailable', message: 'down' });
      } else if (request.method === 'GET') {
        if (lease === undefined) send(404, { kind: 'Status', reason: 'NotFound', message: 'no lease' });
        else send(200, lease);
      } else {
        const next = JSON.parse(body) as { metadata: Record<string, unknown> };
        lease = { ...next, metadata: { ...next.metadata, resourceVersion: String(++version) } };
        api.writes++;
        send(request.method === 'POST' ? 201 : 200, lease);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  const close = (): Promise<void> => new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
    server.closeAllConnections();
  });
  Object.assign(api, { kubeConfig, close });
  return api;
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** A leader with upstream MIC's timing (15 s lease, renew deadline 7.5 s, retry 3.75 s) on a manual clock. */
async function leader(): Promise<{ api: FakeApi; clock: ManualClock; elector: LeaderElector; tick: () => Promise<void> }> {
  const api = await fakeApi();
  const clock = new ManualClock();
  const elector = new LeaderElector({ kubeConfig: api.kubeConfig, namespace: 'kube-system', name: 'mic', identity: 'me', leaseDurationMs: 15_000, logger: pino({ level: 'silent' }), clock });
  const stop = new AbortController();
  const running = elector.run(stop.signal);
  cleanup.push(async () => {
    stop.abort();
    api.down = false;
    await clock.advance(0);
    await running;
    await api.close();
  });
  await vi.waitFor(() => {
    expect(elector.isLeader()).toBe(true);
  });
  /** One retry period: the next renew attempt, answered. */
  const tick = async (): Promise<void> => {
    const before = api.requests;
    await clock.advance(3_750);
    await vi.waitFor(() => {
      expect(api.requests).toBeGreaterThan(before);
    });
    // Let the elector act on the answer.
    await new Promise((resolve) => setTimeout(resolve, 20));
  };
  return { api, clock, elector, tick };
}

/**
 * Moves the manual clock in 250 ms steps up to `untilMs` after `start`, with the API server down when
 * `down(at)` says so; each step leaves the elector a moment to finish its request.
 */
async function drive(api: FakeApi, clock: ManualClock, start: number, untilMs: number, down: (at: number) => boolean, stopWhen: () => boolean = () => false): Promise<number> {
  while (clock.now() - start < untilMs && !stopWhen()) {
    api.down = down(clock.now() - start + 250);
    await clock.advance(250);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return clock.now() - start;
}

describe('LeaderElector renew deadline', () => {
  it('rides out an API server outage shorter than the renew deadline (client-go: the deadline starts at the first failed attempt)', async () => {
    const { api, clock, elector } = await leader();
    const start = clock.now();
    // Renewed at 0; down from 1 s to 10 s: attempts from 3.75 s fail (the deadline runs from there), 7.5 s later would be 11.25 s.
    await drive(api, clock, start, 10_000, (at) => at >= 1_000);
    expect(elector.isLeader()).toBe(true);
    expect(elector.lost.aborted).toBe(false);
    const writes = api.writes;
    await drive(api, clock, start, 11_000, () => false);
    expect(api.writes).toBeGreaterThan(writes);
    expect(elector.isLeader()).toBe(true);
  });

  it('gives up once renewing has failed for the renew deadline, before the lease could expire for others', async () => {
    const { api, clock, elector } = await leader();
    const start = clock.now();
    const lostAt = await drive(api, clock, start, 20_000, () => true, () => elector.lost.aborted);
    // First failed attempt at 3.75 s, deadline 7.5 s: lost at 11.25 s, before the 15 s lease ends.
    expect(elector.lost.aborted).toBe(true);
    expect(elector.isLeader()).toBe(false);
    expect(lostAt).toBeGreaterThanOrEqual(11_250);
    expect(lostAt).toBeLessThan(15_000);
  });

  it('retries a failed renewal every second, so a short window between two outages keeps the lease', async () => {
    const { api, clock, elector } = await leader();
    const start = clock.now();
    // Down at once (the renewal at 3.75 s fails), up from 5.5 s to 6.5 s, down again after. Retrying
    // every 3.75 s, the attempts fall at 3.75, 7.5 and 11.25 s, all down: lost at 11.25 s.
    api.down = true;
    while (clock.now() - start < 12_000) {
      await clock.advance(250);
      const at = clock.now() - start;
      api.down = !(at >= 5_500 && at < 6_500);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(elector.lost.aborted).toBe(false);
    expect(elector.isLeader()).toBe(true);
  });

  it('gives up as well when its renew requests are never answered (each lease round has a deadline of half a retry period)', async () => {
    const { api, clock, elector } = await leader();
    api.hang = true;
    const requests = api.requests;
    let elapsed = 0;
    while (elapsed < 20_000 && !elector.lost.aborted) {
      await clock.advance(250);
      elapsed += 250;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Attempts at 3.75, 6.625 and 9.5 s, each abandoned after 1.875 s: lost at 11.375 s, before the 15 s
    // lease expires for the others. Without a deadline the first request would hold it "leader" for ever.
    expect(elector.lost.aborted).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(11_250);
    expect(elapsed).toBeLessThan(15_000);
    expect(api.requests - requests).toBeLessThanOrEqual(3);
  });
});

describe('LeaderElector candidate', () => {
  it('takes over within lease + 2 s of the holder\'s last renewal (it reads the lease every second, not every retry period)', async () => {
    const api = await fakeApi();
    cleanup.push(() => api.close());
    const server = api.kubeConfig.getCurrentCluster()?.server ?? '';
    const leases = `${server}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases`;
    const held = (renewTime: string): string => JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'mic', namespace: 'kube-system' }, spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime } });
    await fetch(leases, { method: 'POST', body: held('2025-01-01T00:00:00.000000Z') });

    const clock = new ManualClock();
    const elector = new LeaderElector({ kubeConfig: api.kubeConfig, namespace: 'kube-system', name: 'mic', identity: 'me', leaseDurationMs: 15_000, logger: pino({ level: 'silent' }), clock });
    const stop = new AbortController();
    const running = elector.run(stop.signal);
    cleanup.push(async () => {
      stop.abort();
      await clock.advance(0);
      await running;
    });
    await vi.waitFor(() => { expect(api.requests).toBe(1); });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The holder renews once more, just after the candidate's first read, and then dies.
    await fetch(`${leases}/mic`, { method: 'PUT', body: held('2025-01-01T00:00:00.500000Z') });
    const start = clock.now();
    while (!elector.isLeader() && clock.now() - start < 25_000) {
      // One candidate period: the next read, answered, and acted on.
      const before = api.requests;
      await clock.advance(1_000);
      await vi.waitFor(() => { expect(api.requests).toBeGreaterThan(before); });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(elector.isLeader()).toBe(true);
    // Seen 1 s in, expired 15 s later: ≤ 15 s + 2 s after the renewal. Reading every 3.75 s took 18.25 s.
    expect(clock.now() - start).toBeLessThanOrEqual(17_000);
    expect(clock.now() - start).toBeGreaterThanOrEqual(15_000);
  });
});
