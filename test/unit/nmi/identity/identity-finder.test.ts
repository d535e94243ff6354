/**
 * IdentityFinder (standard mode): a request waiting for its pod's assignment is answered as soon as the
 * pod goes away (found by the soak suite: a deleted pod's request was held for the remaining attempts,
 * ~55 s with the defaults), and keeps waiting while the pod lives — as long as upstream waited (found
 * by the mixed-cluster e2e test: ours gave up one interval earlier).
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, flushMicrotasks } from '../../../support/manual-clock.ts';
import { KeyedWaiter } from '../../../../src/lib/keyed-waiter.ts';
import { IdentityFinder, type Decision, type FinderView } from '../../../../src/nmi/identity/identity-finder.ts';
import { projectNodePod, type NodePod } from '../../../../src/nmi/identity/pods.ts';

/** Built through NMI's own projection, so the test follows NodePod as it grows. */
function pod(overrides: { uid?: string; phase?: string } = {}): NodePod {
  const projected = projectNodePod({
    metadata: { namespace: 'app', name: 'web', uid: overrides.uid ?? 'uid-1', resourceVersion: '1', labels: { aadpodidbinding: 'web' } },
    status: { phase: overrides.phase ?? 'Running', podIP: '10.0.0.5' },
  });
  if (projected === undefined) throw new Error('unreadable pod');
  return projected;
}

/** A view with one pod (or none) and no AAIs, exceptions, bindings or identities. */
function view(current: { pod: NodePod | undefined }): FinderView {
  return {
    pod: (namespace, name) => (current.pod?.namespace === namespace && current.pod.name === name ? current.pod : undefined),
    assignedTo: () => [],
    exceptionsIn: () => [],
    bindingsIn: () => [],
    identitiesIn: () => [],
  };
}

function finder(current: { pod: NodePod | undefined }, clock: ManualClock, waiter: KeyedWaiter): IdentityFinder {
  return new IdentityFinder(view(current), waiter, { mode: 'standard', namespaced: false, micNamespace: 'kube-system', retryAttemptsForCreated: 16, retryAttemptsForAssigned: 4, retryIntervalMs: 5_000 });
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
