import { describe, expect, it } from 'vitest';
import { EventReason, UNASSIGNED_AT_ANNOTATION } from '../../../src/api/index.ts';
import { ConflictError, type ArmCallContext } from '../../../src/azure/errors.ts';
import { computeDesiredState } from '../../../src/mic/desired.ts';
import { objectKey, type DesiredAssignment } from '../../../src/mic/model.ts';
import { afterWave, reconcileVerdict, type AfterWaveInput, type WaveResult } from '../../../src/mic/outcome.ts';
import { planTarget, type TargetPlan } from '../../../src/mic/plan.ts';
import { MIC_RETRY_POLICY } from '../../../src/mic/retry-policy.ts';
import { waitsForWave } from '../../../src/mic/wave-gate.ts';
import { assignedFrom, binding, identity, identityId, pod, vmssNode } from '../../support/mic-fixtures.ts';

// The decisions after a wave, from facts only: no ARM, no API server.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const TARGET_NAME = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool1-vmss';
const idA = identityId('a').toLowerCase();
const idB = identityId('b').toLowerCase();

function desiredFor(pods: { name: string; label: string }[]): DesiredAssignment[] {
  const state = computeDesiredState(
    {
      pods: pods.map((entry) => pod(entry.name, { label: entry.label })),
      nodes: new Map([['node-0', vmssNode('node-0')]]),
      identities: new Map(['a', 'b'].map((name) => [objectKey('default', name), identity(name)])),
      bindings: ['a', 'b'].map((name) => binding(`${name}-binding`, name, name)),
      assigned: new Map(),
    },
    { forceNamespaced: false },
  );
  return [...state.assignments.values()];
}

function planFor(desired: DesiredAssignment[], current: ReturnType<typeof assignedFrom>[] = [], onTarget: string[] = []): TargetPlan {
  return planTarget({
    desiredOnTarget: desired,
    desiredKeys: new Set(desired.map((entry) => objectKey(entry.namespace, entry.name))),
    currentOnTarget: current,
    onTarget: new Set(onTarget),
    immutable: new Set(),
    gracePeriodMs: 0,
    now: NOW,
  });
}

function wave(overrides: Partial<WaveResult>): WaveResult {
  return { landed: new Set(), refused: new Map(), error: undefined, heldMs: undefined, ...overrides };
}

function inputFor(desired: DesiredAssignment[], plan: TargetPlan, result: WaveResult): AfterWaveInput {
  return { plan, waitingWrites: plan.writes.filter((write) => waitsForWave(write.desired, new Set(), true)), desiredOnTarget: desired, targetName: TARGET_NAME, wave: result };
}

const context = { resourceId: 'vmss', operation: 'vmss_update', statusCode: 409, armCode: 'Conflict', armMessage: 'busy', requestId: undefined } as unknown as ArmCallContext;

describe('afterWave', () => {
  it('marks the AAIs whose identity landed Assigned, in plan order, building the patch base of those just written', () => {
    const desired = desiredFor([{ name: 'p1', label: 'a' }, { name: 'p2', label: 'b' }]);
    const plan = planFor(desired);
    const after = afterWave(inputFor(desired, plan, wave({ landed: new Set([idA, idB]) })));
    expect(after.assignSteps.map((step) => step.kind)).toEqual(['mark', 'mark']);
    const [first] = after.assignSteps;
    expect(first?.kind === 'mark' ? first.current : undefined).toMatchObject({ metadata: { name: desired[0]!.name, namespace: 'default' }, status: { status: 'Created' } });
    expect(after.identitiesAdded).toBe(2);
  });

  it('marks an existing Created AAI with the object from the cache', () => {
    const desired = desiredFor([{ name: 'p1', label: 'a' }]);
    const created = assignedFrom(desired[0]!, 'Created');
    const plan = planFor(desired, [created], [idA]);
    const after = afterWave(inputFor(desired, plan, wave({ landed: new Set([idA]) })));
    expect(after.assignSteps).toEqual([{ kind: 'mark', desired: desired[0], current: created }]);
  });

  it('says why an identity did not land: ARM’s refusal by name, else the wave’s error', () => {
    const desired = desiredFor([{ name: 'p1', label: 'a' }, { name: 'p2', label: 'b' }]);
    const plan = planFor(desired);
    const error = new ConflictError(context, 5_000);
    const after = afterWave(inputFor(desired, plan, wave({ refused: new Map([[idB, 'FailedIdentityOperation: gone']]), error })));
    const events = after.assignSteps.map((step) => (step.kind === 'warn' ? step.event : undefined));
    expect(events.map((event) => event?.reason)).toEqual([EventReason.BindingApplyError, EventReason.BindingApplyError]);
    expect(events[0]?.message).toContain(error.message);
    expect(events[1]?.message).toContain(`ARM refused identity ${idB}: FailedIdentityOperation: gone`);
    expect(events[1]?.type).toBe('Warning');
  });

  it('stays silent about AAIs held back by an earlier Retry-After', () => {
    const desired = desiredFor([{ name: 'p1', label: 'a' }]);
    const plan = planFor(desired);
    expect(afterWave(inputFor(desired, plan, wave({ heldMs: 1_000 }))).assignSteps).toEqual([]);
  });

  it('deletes leftovers once their identity is off the target, and says why when it is still there', () => {
    const [gone] = desiredFor([{ name: 'old', label: 'a' }]);
    const leftover = assignedFrom(gone!, 'Unassigned', { [UNASSIGNED_AT_ANNOTATION]: new Date(NOW - 60_000).toISOString() });
    const plan = planFor([], [leftover], [idA]);
    expect(plan.identitiesToRemove).toEqual([idA]);

    const removed = afterWave(inputFor([], plan, wave({ landed: new Set() })));
    expect(removed.deletable).toEqual([leftover]);
    expect(removed.removeErrors).toEqual([]);
    expect(removed.identitiesRemoved).toBe(1);

    const error = new ConflictError(context, 5_000);
    const stuck = afterWave(inputFor([], plan, wave({ landed: new Set([idA]), error })));
    expect(stuck.deletable).toEqual([]);
    expect(stuck.removeErrors).toHaveLength(1);
    expect(stuck.removeErrors[0]).toMatchObject({ type: 'Warning', reason: EventReason.BindingRemoveError });
    expect(stuck.removeErrors[0]?.message).toBe(`Identity for ${leftover.metadata.name ?? ''} could not be removed from ${TARGET_NAME}: ${error.message}`);

    expect(afterWave(inputFor([], plan, wave({ landed: new Set([idA]), heldMs: 500 }))).removeErrors).toEqual([]);
  });
});

describe('reconcileVerdict', () => {
  const base = { key: 'k', failures: [], nextGraceDeadline: undefined, now: NOW };

  it('fails with ARM’s error first, then refusals, then Kubernetes write failures', () => {
    const error = new ConflictError(context, 5_000);
    expect(reconcileVerdict({ ...base, wave: wave({ error, refused: new Map([[idA, 'x']]) }), failures: [new Error('w')] })).toEqual({ kind: 'arm', error });
    const refused = reconcileVerdict({ ...base, wave: wave({ refused: new Map([[idA, 'x']]) }), failures: [new Error('w')] });
    expect(refused.kind).toBe('refused');
    expect(refused.kind === 'done' ? '' : refused.error.message).toBe(`ARM refused identities [${idA}] on k; retrying with backoff`);
    const writes = reconcileVerdict({ ...base, wave: wave({}), failures: [new Error('w')] });
    expect(writes.kind === 'kube-writes' ? writes.error.message : '').toBe('1 Kubernetes write(s) failed for k: w');
  });

  it('requeues a held wave when its hold ends, and a pending grace period just after it ends', () => {
    expect(reconcileVerdict({ ...base, wave: wave({ heldMs: 4_900 }), nextGraceDeadline: NOW + 1_000 })).toEqual({ kind: 'done', result: { requeueAfterMs: 4_900 } });
    expect(reconcileVerdict({ ...base, wave: wave({}), nextGraceDeadline: NOW + 1_000 })).toEqual({ kind: 'done', result: { requeueAfterMs: 1_000 + MIC_RETRY_POLICY.graceRequeueSlackMs } });
    expect(reconcileVerdict({ ...base, wave: wave({}) })).toEqual({ kind: 'done', result: undefined });
  });
});
