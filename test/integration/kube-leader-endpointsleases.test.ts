import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElector } from '../../src/kube/leader-election.ts';
import type { LeaderLockKind } from '../../src/kube/leader-locks.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { auditEvents, controlPlane, createClientCertUser, kubeConfig, kubectl, uniqueNamespace } from '../harness/context.ts';
import { locateUpstreamLock, startUpstreamLock, type UpstreamLockProcess } from '../support/upstream-lock.ts';

// `endpointsleases` against upstream's own leader election: test/peers/upstream-lock runs client-go v0.23's
// elector with the Endpoints lock exactly as aad-pod-identity v1.8's MIC does. While it leads, our
// elector never leads and writes nothing; when it releases or stops renewing, ours takes both locks;
// while ours leads, it never acquires. With the default `leases`, ours ignores the Endpoints (unchanged).

const LEASE_MS = 4_000;
const timing = { leaseDurationMs: LEASE_MS, renewDeadlineMs: LEASE_MS / 2, retryPeriodMs: LEASE_MS / 4 };
const NAME = 'aad-pod-identity-mic';
/** How long a lock holder is watched for "never": several lease durations. */
const WATCH_MS = 2.5 * LEASE_MS;

const helpers: UpstreamLockProcess[] = [];
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  // A cold build takes a minute or two; a cached one is a file check.
  await locateUpstreamLock();
}, 15 * 60_000);

afterAll(async () => {
  for (const stop of stops) await stop();
  for (const helper of helpers) await helper.stop('SIGKILL');
});

async function upstream(namespace: string, identity: string, releaseOnCancel = false): Promise<UpstreamLockProcess> {
  const helper = await startUpstreamLock({ kubeconfig: controlPlane().kubeconfigPath, namespace, identity, durationMs: LEASE_MS, releaseOnCancel });
  helpers.push(helper);
  return helper;
}

interface Ours {
  readonly identity: string;
  readonly elector: LeaderElector;
  /** Stops the elector (it releases what it holds) and waits for it. */
  stop(): Promise<void>;
}

/** Our elector as its own x509 user (system:masters), so the audit log tells its requests apart. */
async function ours(namespace: string, identity: string, lock: LeaderLockKind): Promise<Ours> {
  const kubeconfig = await createClientCertUser(identity, ['system:masters']);
  const elector = new LeaderElector({ kubeConfig: kubeConfig(kubeconfig), namespace, name: NAME, identity, lock, logger: pino({ level: 'silent' }), ...timing });
  const controller = new AbortController();
  const running = elector.run(controller.signal);
  const stop = async (): Promise<void> => {
    controller.abort();
    await running;
  };
  stops.push(stop);
  return { identity, elector, stop };
}

interface Records {
  /** The Endpoints annotation's record, parsed as JSON (undefined: no Endpoints or no annotation). */
  readonly endpoints: { holderIdentity: string; leaseDurationSeconds: number; acquireTime: string | null; renewTime: string | null; leaderTransitions: number } | undefined;
  readonly lease: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number } | undefined;
}

async function records(namespace: string): Promise<Records> {
  const get = async (path: string): Promise<Record<string, unknown> | undefined> => {
    try {
      return (await rawRequest(kubeConfig(), { method: 'GET', path })) as Record<string, unknown>;
    } catch (error) {
      if (String(error).includes(': 404 ')) return undefined;
      throw error;
    }
  };
  const endpoints = (await get(`/api/v1/namespaces/${namespace}/endpoints/${NAME}`)) as { metadata: { annotations?: Record<string, string> } } | undefined;
  const lease = (await get(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${NAME}`)) as { spec?: Records['lease'] } | undefined;
  const annotation = endpoints?.metadata.annotations?.['control-plane.alpha.kubernetes.io/leader'];
  return { endpoints: annotation === undefined ? undefined : (JSON.parse(annotation) as Records['endpoints']), lease: lease?.spec };
}

/** Whole seconds of a time string (the annotation keeps seconds, the Lease microseconds). */
function second(time: string | null | undefined): number | undefined {
  return time === null || time === undefined ? undefined : Math.floor(Date.parse(time) / 1000);
}

/** The same record in both locks: holder, duration, transitions and times to the second. */
function expectSameRecord(current: Records, holder: string): void {
  const { endpoints, lease } = current;
  expect(endpoints?.holderIdentity).toBe(holder);
  expect(lease?.holderIdentity).toBe(holder);
  expect(lease?.leaseDurationSeconds).toBe(endpoints?.leaseDurationSeconds);
  expect(lease?.leaseTransitions).toBe(endpoints?.leaderTransitions);
  expect(second(lease?.acquireTime)).toBe(second(endpoints?.acquireTime));
  expect(second(lease?.renewTime)).toBe(second(endpoints?.renewTime));
}

/** Writes (any verb but get/list/watch) by `user` in `namespace` so far. */
async function writesBy(user: string, namespace: string): Promise<string[]> {
  return (await auditEvents())
    .filter((event) => event.user.username === user && event.objectRef?.namespace === namespace && !['get', 'list', 'watch'].includes(event.verb))
    .map((event) => `${event.verb} ${event.requestURI}`);
}

/** Samples `leading()` every 100 ms for `ms`; resolves with how often it was true. */
async function countLeading(ms: number, leading: () => boolean): Promise<number> {
  let seen = 0;
  for (const end = performance.now() + ms; performance.now() < end; ) {
    if (leading()) seen++;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return seen;
}

async function waitLeading(elector: LeaderElector, timeoutMs: number): Promise<number> {
  const started = performance.now();
  await Promise.race([
    elector.waitForLeadership(AbortSignal.timeout(timeoutMs)),
    new Promise((resolve) => setTimeout(resolve, timeoutMs)),
  ]);
  if (!elector.isLeader()) throw new Error(`not leading within ${timeoutMs} ms`);
  return performance.now() - started;
}

describe('leader election with --leader-election-resource-lock=endpointsleases against upstream client-go', () => {
  it('hands over in both directions and never has two leaders', async () => {
    const namespace = await uniqueNamespace('endpointsleases');

    // 1. Upstream leads (this one releases on SIGTERM, as client-go's ReleaseOnCancel does).
    const first = await upstream(namespace, 'upstream-mic-a', true);
    await first.waitFor('leading', 10_000);
    const ourFirst = await ours(namespace, 'ours-1', 'endpointsleases');
    expect(await countLeading(WATCH_MS, () => ourFirst.elector.isLeader())).toBe(0);
    expect((await records(namespace)).endpoints?.holderIdentity).toBe('upstream-mic-a');
    expect((await records(namespace)).lease).toBeUndefined();
    expect(await writesBy('ours-1', namespace)).toEqual([]);

    // 2. It releases: ours takes both locks at once (the lock is free, no expiry to wait for).
    const releasedAt = performance.now();
    await first.stop('SIGTERM');
    expect(first.events.map((event) => event.event)).toContain('released');
    await waitLeading(ourFirst.elector, LEASE_MS + 2_000);
    const afterRelease = performance.now() - releasedAt;
    expect(afterRelease).toBeLessThan(LEASE_MS);
    expectSameRecord(await records(namespace), 'ours-1');

    // 3. Ours holds both: another upstream replica sees our record and never acquires.
    const second_ = await upstream(namespace, 'upstream-mic-b');
    const seenLeader = await second_.waitFor('new-leader', 10_000);
    expect(seenLeader.leader).toBe('ours-1');
    await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
    expect(second_.events.map((event) => event.event)).not.toContain('leading');
    expect(ourFirst.elector.isLeader()).toBe(true);
    expectSameRecord(await records(namespace), 'ours-1');

    // 4. Ours stops (releases both): upstream takes the Endpoints at once.
    const stoppedAt = performance.now();
    await ourFirst.stop();
    const upstreamLeading = await second_.waitFor('leading', LEASE_MS + 4_000);
    const toUpstream = upstreamLeading.seenAt - stoppedAt;
    expect(toUpstream).toBeLessThan(LEASE_MS);
    const afterStop = await records(namespace);
    expect(afterStop.endpoints?.holderIdentity).toBe('upstream-mic-b');
    expect(afterStop.lease?.holderIdentity).toBe('');

    // 5. A new replica of ours waits while upstream leads and writes nothing; upstream's pod is deleted
    //    (SIGTERM ends it without a release, as upstream's MIC): ours takes over once the lock expired.
    const ourSecond = await ours(namespace, 'ours-2', 'endpointsleases');
    expect(await countLeading(WATCH_MS, () => ourSecond.elector.isLeader())).toBe(0);
    expect(await writesBy('ours-2', namespace)).toEqual([]);
    const killedAt = performance.now();
    await second_.stop('SIGTERM');
    expect(second_.events.map((event) => event.event)).not.toContain('released');
    await waitLeading(ourSecond.elector, LEASE_MS + 6_000);
    const afterExpiry = performance.now() - killedAt;
    // It waited for the expiry (the last renewal was at most a retry period before the kill) …
    expect(afterExpiry).toBeGreaterThanOrEqual(LEASE_MS - timing.retryPeriodMs - 500);
    // … and no longer than the lease plus two candidate polls.
    expect(afterExpiry).toBeLessThanOrEqual(LEASE_MS + 2_000);
    const taken = await records(namespace);
    expectSameRecord(taken, 'ours-2');
    expect(taken.endpoints?.leaderTransitions).toBeGreaterThanOrEqual(3);
    // Endpoints are deprecated since Kubernetes 1.33: the API server warns, and the lock still works.
    const read = await kubectl(['get', 'endpoints', '-n', namespace, NAME]);
    expect(read.code).toBe(0);
    expect(read.stderr).toContain('Warning: v1 Endpoints is deprecated');
    console.log(
      `[endpointsleases] lease ${LEASE_MS} ms: upstream released → ours leading ${Math.round(afterRelease)} ms; ours released → upstream leading ${Math.round(toUpstream)} ms; ` +
        `upstream SIGTERM (no release) → ours leading ${Math.round(afterExpiry)} ms; candidates wrote nothing while upstream led`,
    );
  }, 120_000);

  it('switching back to `leases` after the switch: a `leases` replica waits for an `endpointsleases` leader (same Lease)', async () => {
    const namespace = await uniqueNamespace('back-to-leases');
    const old = await ours(namespace, 'ours-old', 'endpointsleases');
    await waitLeading(old.elector, 5_000);
    const next = await ours(namespace, 'ours-next', 'leases');
    expect(await countLeading(WATCH_MS, () => next.elector.isLeader())).toBe(0);
    expect(old.elector.isLeader()).toBe(true);
    const stoppedAt = performance.now();
    await old.stop();
    await waitLeading(next.elector, LEASE_MS + 2_000);
    expect(performance.now() - stoppedAt).toBeLessThan(LEASE_MS);
    const current = await records(namespace);
    expect(current.lease?.holderIdentity).toBe('ours-next');
    // The Endpoints keeps the released record; nothing reads it any more, it can be deleted.
    expect(current.endpoints?.holderIdentity).toBe('');
  }, 60_000);

  it('with the default `leases` lock ours ignores the Endpoints (unchanged behaviour: a Lease only)', async () => {
    const namespace = await uniqueNamespace('leases-only');
    const helper = await upstream(namespace, 'upstream-mic-c');
    await helper.waitFor('leading', 10_000);
    const candidate = await ours(namespace, 'ours-3', 'leases');
    await waitLeading(candidate.elector, 3_000);
    const current = await records(namespace);
    expect(current.endpoints?.holderIdentity).toBe('upstream-mic-c');
    expect(current.lease?.holderIdentity).toBe('ours-3');
    const touched = (await auditEvents()).filter((event) => event.user.username === 'ours-3' && event.objectRef?.resource === 'endpoints');
    expect(touched).toEqual([]);
    await candidate.stop();
    expect((await records(namespace)).lease?.holderIdentity).toBe('');
  }, 60_000);
});
