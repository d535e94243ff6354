/**
 * IdentityFinder (standard mode): a request waiting for its pod's assignment is answered as soon as the
 * pod goes away (found by the soak suite: a deleted pod's request was held for the remaining attempts,
 * ~55 s with the defaults), and keeps waiting while the pod lives — as long as upstream waited (found
 * by the mixed-cluster e2e test: ours gave up one interval earlier). Managed mode (found in CI under
 * load: the pod's watch event came before its binding's) waits for a pod that has just arrived.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, flushMicrotasks } from '../../../support/manual-clock.ts';
import { KeyedWaiter } from '../../../../src/lib/keyed-waiter.ts';
import { IdentityFinder, namespaceObjectsKey, type Decision, type FinderView } from '../../../../src/nmi/identity/identity-finder.ts';
import { projectNodePod, type NodePod } from '../../../../src/nmi/identity/pods.ts';
import type { AzureAssignedIdentity, AzureIdentity, AzureIdentityBinding, AzurePodIdentityException } from '../../../../src/api/index.ts';
import { assignedFrom, binding, identity } from '../../../support/mic-fixtures.ts';

/** Built through NMI's own projection, so the test follows NodePod as it grows. */
function pod(overrides: { uid?: string; phase?: string } = {}): NodePod {
  const projected = projectNodePod({
    metadata: { namespace: 'app', name: 'web', uid: overrides.uid ?? 'uid-1', resourceVersion: '1', labels: { aadpodidbinding: 'web' } },
    status: { phase: overrides.phase ?? 'Running', podIP: '10.0.0.5' },
  });
  if (projected === undefined) throw new Error('unreadable pod');
  return projected;
}

interface Current {
  pod: NodePod | undefined;
  arrivedAt?: number;
  bindings?: AzureIdentityBinding[];
  identities?: AzureIdentity[];
  exceptions?: AzurePodIdentityException[];
}

/** A view with one pod (or none), no AAIs or exceptions, and the bindings and identities given. */
function view(current: Current): FinderView {
  return {
    pod: (namespace, name) => (current.pod?.namespace === namespace && current.pod.name === name ? current.pod : undefined),
    arrivedAt: (uid) => (current.pod?.uid === uid ? current.arrivedAt : undefined),
    assignedTo: () => [],
    exceptionsIn: () => current.exceptions ?? [],
    bindingsIn: () => current.bindings ?? [],
    identitiesIn: () => current.identities ?? [],
  };
}

function finder(current: Current, clock: ManualClock, waiter: KeyedWaiter, mode: 'standard' | 'managed' = 'standard'): IdentityFinder {
  return new IdentityFinder(view(current), waiter, { mode, namespaced: mode === 'managed', micNamespace: 'kube-system', retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, retryIntervalMs: 5_000, clock });
}

describe('IdentityFinder while a pod waits for its assignment', () => {
  it.each([
    ['deleted', undefined],
    ['replaced by a namesake', pod({ uid: 'uid-2' })],
    ['finished', pod({ phase: 'Succeeded' })],
  ])('refuses at once when the pod is %s', async (_, after) => {
    const clock = new ManualClock(0);
    const waiter = new KeyedWaiter(clock);
    const current: { pod: NodePod | undefined } = { pod: pod() };
    let decision: Decision | undefined;
    void finder(current, clock, waiter).decide(pod(), undefined).then((result) => { decision = result; });
    await flushMicrotasks();
    expect(decision).toBeUndefined();
    current.pod = after;
    waiter.notify('app/web');
    await flushMicrotasks();
    expect(decision).toMatchObject({ kind: 'refuse', status: 404, error: 'identity_not_found' });
    expect(decision?.kind === 'refuse' ? decision.description : '').toContain('deleted while its request waited');
    expect(waiter.waiting).toBe(0);
  });

  it('serves the node identity once an exception that reached the view after the pod applies (next attempt)', async () => {
    const clock = new ManualClock(0);
    const waiter = new KeyedWaiter(clock);
    const current: Current = { pod: pod() };
    let decision: Decision | undefined;
    void finder(current, clock, waiter).decide(pod(), undefined).then((result) => { decision = result; });
    await flushMicrotasks();
    current.exceptions = [{ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzurePodIdentityException', metadata: { name: 'e', namespace: 'app' }, spec: { podLabels: { aadpodidbinding: 'WEB' } } }];
    await clock.advance(5_000);
    expect(decision).toEqual({ kind: 'node', reason: 'exception' });
  });

  it('keeps waiting while the pod lives (a wake without a change is one attempt, not an answer)', async () => {
    const clock = new ManualClock(0);
    const waiter = new KeyedWaiter(clock);
    const current = { pod: pod() };
    let decision: Decision | undefined;
    void finder(current, clock, waiter).decide(pod(), undefined).then((result) => { decision = result; });
    await flushMicrotasks();
    waiter.notify('app/web');
    await clock.advance(5_000);
    await flushMicrotasks();
    expect(decision).toBeUndefined();
    expect(waiter.waiting).toBe(1);
  });

  it('refuses a pod whose AAI never comes after 16 waits of 5 s (80 s), as upstream, not one wait earlier', async () => {
    const clock = new ManualClock(0);
    const waiter = new KeyedWaiter(clock);
    let decision: Decision | undefined;
    void finder({ pod: pod() }, clock, waiter).decide(pod(), undefined).then((result) => { decision = result; });
    await flushMicrotasks();
    await clock.advance(79_999);
    expect(decision).toBeUndefined();
    await clock.advance(1);
    expect(decision).toMatchObject({ kind: 'refuse', status: 404 });
    expect(decision?.kind === 'refuse' ? decision.description : '').toContain('in CREATED state failed after 16 attempts, retry duration [5]s');
  });
});

/** The binding and identity that select pod() in managed mode. */
const bound = (): Pick<Current, 'bindings' | 'identities'> => ({
  bindings: [binding('web-binding', 'web-id', 'web', 'app')],
  identities: [identity('web-id', { namespace: 'app', clientID: 'web-client' })],
});

describe('IdentityFinder in managed mode', () => {
  it('serves a bound pod at once', async () => {
    const clock = new ManualClock(10_000);
    const decision = await finder({ pod: pod(), arrivedAt: 10_000, ...bound() }, clock, new KeyedWaiter(clock), 'managed').decide(pod(), undefined);
    expect(decision).toMatchObject({ kind: 'identity', identity: { metadata: { name: 'web-id' } } });
  });

  it('refuses at once a pod of the first list (all informers synced before it was served), as upstream', async () => {
    const clock = new ManualClock(10_000);
    const waiter = new KeyedWaiter(clock);
    const decision = await finder({ pod: pod() }, clock, waiter, 'managed').decide(pod(), undefined);
    expect(decision).toMatchObject({ kind: 'refuse', status: 404 });
    expect(waiter.waiting).toBe(0);
  });

  it('holds a pod that just arrived until its binding and identity reach the view', async () => {
    const clock = new ManualClock(10_000);
    const waiter = new KeyedWaiter(clock);
    const current: Current = { pod: pod(), arrivedAt: 10_000 };
    let decision: Decision | undefined;
    void finder(current, clock, waiter, 'managed').decide(pod(), undefined).then((result) => { decision = result; });
    await flushMicrotasks();
    expect(decision).toBeUndefined();
    current.bindings = bound().bindings;
    waiter.notify(namespaceObjectsKey('app'));
    await flushMicrotasks();
    expect(decision).toBeUndefined();
    current.identities = bound().identities;
    await clock.advance(10);
    waiter.notify(namespaceObjectsKey('app'));
    await flushMicrotasks();
    expect(decision).toMatchObject({ kind: 'identity', identity: { metadata: { name: 'web-id' } } });
  });

  it('refuses a pod that arrived 2 s ago once one retry interval (5 s) has passed since its arrival', async () => {
    const clock = new ManualClock(12_000);
    const waiter = new KeyedWaiter(clock);
    let decision: Decision | undefined;
    void finder({ pod: pod(), arrivedAt: 10_000 }, clock, waiter, 'managed').decide(pod(), undefined).then((result) => { decision = result; });
    await flushMicrotasks();
    await clock.advance(2_999);
    expect(decision).toBeUndefined();
    await clock.advance(1);
    expect(decision).toMatchObject({ kind: 'refuse', status: 404 });
    expect(decision?.kind === 'refuse' ? decision.description : '').toContain('no azure identity found for pod app/web');
    expect(waiter.waiting).toBe(0);
  });

  it('does not hold a pod without the binding label, nor a request for several identities', async () => {
    const clock = new ManualClock(10_000);
    const unlabelled = projectNodePod({ metadata: { namespace: 'app', name: 'web', uid: 'uid-1', resourceVersion: '1' }, status: { phase: 'Running', podIP: '10.0.0.5' } });
    if (unlabelled === undefined) throw new Error('unreadable pod');
    expect(await finder({ pod: unlabelled, arrivedAt: 10_000 }, clock, new KeyedWaiter(clock), 'managed').decide(unlabelled, undefined)).toMatchObject({ kind: 'refuse', status: 404 });
    const two: Current = { pod: pod(), arrivedAt: 10_000, bindings: [binding('a', 'a', 'web', 'app'), binding('b', 'b', 'web', 'app')], identities: [identity('a', { namespace: 'app' }), identity('b', { namespace: 'app' })] };
    expect(await finder(two, clock, new KeyedWaiter(clock), 'managed').decide(pod(), undefined)).toMatchObject({ kind: 'refuse', status: 400 });
  });
});

describe('IdentityFinder.decideNow (the answer without waiting)', () => {
  it('gives what decide gives when decide would not wait', async () => {
    const clock = new ManualClock(10_000);
    const cases: [Current, 'standard' | 'managed'][] = [
      [{ pod: pod(), arrivedAt: 10_000, ...bound() }, 'managed'],
      [{ pod: pod() }, 'managed'],
      [{ pod: pod(), exceptions: [{ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzurePodIdentityException', metadata: { name: 'x', namespace: 'app' }, spec: { podLabels: { aadpodidbinding: 'web' } } }] }, 'standard'],
    ];
    for (const [current, mode] of cases) {
      const subject = finder(current, clock, new KeyedWaiter(clock), mode);
      const now = subject.decideNow(pod(), undefined);
      expect(now).toBeDefined();
      expect(now).toEqual(await subject.decide(pod(), undefined));
    }
  });

  it('is undefined where decide waits: a pod not yet assigned (standard), a pod that just arrived unbound (managed)', () => {
    const clock = new ManualClock(10_000);
    expect(finder({ pod: pod() }, clock, new KeyedWaiter(clock)).decideNow(pod(), undefined)).toBeUndefined();
    expect(finder({ pod: pod(), arrivedAt: 9_000 }, clock, new KeyedWaiter(clock), 'managed').decideNow(pod(), undefined)).toBeUndefined();
  });
});

describe('IdentityFinder: standard mode’s first attempt, remembered per AAI list and pod', () => {
  const aai = (identityName: string): AzureAssignedIdentity => {
    const id = identity(identityName, { namespace: 'app', clientID: `${identityName}-client` });
    const bound = binding(`${identityName}-binding`, identityName, 'web', 'app');
    return assignedFrom({ name: `web-app-${identityName}`, namespace: 'default', podName: 'web', podNamespace: 'app', podUid: 'uid-1', nodeName: 'n', identity: id, binding: bound, resourceIdKey: undefined }, 'Assigned');
  };

  it('answers from the list the view holds now: a new list (an AAI changed) or a new pod object is decided again', () => {
    const clock = new ManualClock(0);
    const current = { pod: pod(), assigned: [aai('first')] as readonly AzureAssignedIdentity[] };
    const subject = new IdentityFinder({ ...view({ pod: current.pod }), pod: () => current.pod, assignedTo: () => current.assigned }, new KeyedWaiter(clock), { mode: 'standard', namespaced: false, micNamespace: 'kube-system', retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, retryIntervalMs: 5_000, clock });
    const decided = subject.decideNow(current.pod, undefined);
    expect(decided).toMatchObject({ kind: 'identity', identity: { metadata: { name: 'first' } } });
    expect(subject.decideNow(current.pod, undefined)).toBe(decided);
    current.assigned = [aai('second')];
    expect(subject.decideNow(current.pod, undefined)).toMatchObject({ kind: 'identity', identity: { metadata: { name: 'second' } } });
    current.assigned = [];
    expect(subject.decideNow(current.pod, undefined)).toBeUndefined();
    const selector = { kind: 'client_id' as const, value: 'second-client' };
    current.assigned = [aai('first'), aai('second')];
    expect(subject.decideNow(current.pod, selector)).toMatchObject({ kind: 'identity', identity: { metadata: { name: 'second' } } });
    expect(subject.decideNow(current.pod, undefined)).toMatchObject({ kind: 'refuse' });
  });
});
