import { describe, expect, it } from 'vitest';
import { computeDesiredState } from '../../../src/mic/desired.ts';
import { objectKey, type PodInfo } from '../../../src/mic/model.ts';
import { identityReadiness, needsUpdate } from '../../../src/mic/readiness-gate.ts';
import { WriteTracker } from '../../../src/mic/write-tracker.ts';
import { assignedFrom, binding, identity, pod, vmssNode } from '../../support/mic-fixtures.ts';

function stateFor(pods: PodInfo[]) {
  return computeDesiredState(
    {
      pods,
      nodes: new Map([['node-0', vmssNode('node-0')]]),
      identities: new Map([[objectKey('default', 'a'), identity('a')], [objectKey('default', 'b'), identity('b')]]),
      bindings: [binding('ba', 'a', 'x'), binding('bb', 'b', 'x'), binding('broken', 'missing', 'y')],
      assigned: new Map(),
    },
    { forceNamespaced: false },
  );
}

describe('identityReadiness', () => {
  const gated = pod('p', { label: 'x', readinessGate: true });
  const desired = stateFor([gated]);
  const [first, second] = [...desired.assignments.values()];

  it('is True only when every bound identity is Assigned', () => {
    const none = identityReadiness(gated, desired, new Map());
    expect(none).toMatchObject({ status: 'False', reason: 'IdentityNotAssigned' });
    const half = new Map([[objectKey(first!.namespace, first!.name), assignedFrom(first!, 'Assigned')], [objectKey(second!.namespace, second!.name), assignedFrom(second!, 'Created')]]);
    expect(identityReadiness(gated, desired, half)).toMatchObject({ status: 'False', reason: 'IdentityNotAssigned' });
    const all = new Map([[objectKey(first!.namespace, first!.name), assignedFrom(first!, 'Assigned')], [objectKey(second!.namespace, second!.name), assignedFrom(second!, '')]]);
    expect(identityReadiness(gated, desired, all)).toMatchObject({ status: 'True', reason: 'IdentityAssigned' });
  });

  it('explains a pod whose binding cannot work, or that no binding selects', () => {
    const broken = pod('q', { label: 'y', readinessGate: true });
    expect(identityReadiness(broken, stateFor([broken]), new Map())).toMatchObject({ status: 'False', reason: 'IdentityUnavailable' });
    const lonely = pod('r', { label: 'nobody', readinessGate: true });
    expect(identityReadiness(lonely, stateFor([lonely]), new Map())).toMatchObject({ status: 'False', reason: 'NoMatchingBinding' });
  });

  it('only gated pods whose condition differs need an update', () => {
    const wanted = { status: 'True' as const, reason: 'IdentityAssigned', message: '' };
    expect(needsUpdate(gated, wanted)).toBe(true);
    expect(needsUpdate({ ...gated, identityReady: 'True', identityReadyReason: 'IdentityAssigned' }, wanted)).toBe(false);
    expect(needsUpdate({ ...gated, readinessGate: false }, wanted)).toBe(false);
  });
});

describe('WriteTracker', () => {
  const [desired] = [...stateFor([pod('p', { label: 'x' })]).assignments.values()];
  const cached = (resourceVersion: string) => ({ ...assignedFrom(desired!, 'Assigned'), metadata: { ...assignedFrom(desired!, 'Assigned').metadata, resourceVersion } });

  it('reports lag until the cache shows our write, then forgets it', () => {
    const tracker = new WriteTracker(10_000);
    tracker.written('t', desired!.namespace, desired!.name, '120', 0);
    expect(tracker.lagging('t', [], 1)).toBe(true);
    expect(tracker.lagging('t', [cached('119')], 1)).toBe(true);
    expect(tracker.lagging('other', [], 1)).toBe(false);
    expect(tracker.lagging('t', [cached('121')], 1)).toBe(false);
    expect(tracker.lagging('t', [], 2)).toBe(false);
  });

  it('tracks deletes, and gives up after the TTL', () => {
    const tracker = new WriteTracker(1000);
    tracker.deleted('t', desired!.namespace, desired!.name, 0);
    expect(tracker.lagging('t', [cached('5')], 500)).toBe(true);
    expect(tracker.lagging('t', [cached('5')], 1500)).toBe(false);
  });
});
