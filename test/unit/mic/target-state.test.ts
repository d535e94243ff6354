import { describe, expect, it } from 'vitest';
import type { TargetIdentityState } from '../../../src/azure/compute-identity-client.ts';
import { ConflictError, type ArmCallContext } from '../../../src/azure/errors.ts';
import { MIC_RETRY_POLICY, refusedIdentityHoldMs } from '../../../src/mic/retry-policy.ts';
import { TargetState } from '../../../src/mic/target-state.ts';

const KEY = 'target';
const answer: TargetIdentityState = { identity: { type: 'UserAssigned', userAssignedIdentities: ['/x'] }, provisioningState: 'Succeeded' };
const context = { resourceId: 'vmss', operation: 'vmss_update', statusCode: 409, armCode: 'Conflict', armMessage: 'busy', requestId: undefined } as unknown as ArmCallContext;

describe('TargetState', () => {
  it('reuses ARM’s answer within the TTL unless a refresh was asked for, which one read takes', () => {
    const state = new TargetState({ identityCacheTtlMs: 1_000 });
    expect(state.identitiesToReuse(KEY, 0)).toBeUndefined();
    state.rememberIdentities(KEY, answer, 0);
    expect(state.hasCachedIdentities(KEY)).toBe(true);
    expect(state.identitiesToReuse(KEY, 999)).toBe(answer);
    expect(state.identitiesToReuse(KEY, 1_000)).toBeUndefined();

    state.rememberIdentities(KEY, answer, 2_000);
    state.requestRefresh(KEY);
    expect(state.identitiesToReuse(KEY, 2_001)).toBeUndefined();
    // The request was taken by that read: the cached answer is good again (were the read to fail).
    expect(state.identitiesToReuse(KEY, 2_002)).toBe(answer);

    state.forgetIdentities(KEY);
    expect(state.hasCachedIdentities(KEY)).toBe(false);
  });

  it('holds ARM writes after a Retry-After until it has passed; a wave without one ends the hold', () => {
    const state = new TargetState({ identityCacheTtlMs: 1_000 });
    state.armWaveEnded(KEY, new Error('wrapped', { cause: new ConflictError(context, 5_000) }), 100);
    expect(state.armHoldRemainingMs(KEY, 200)).toBe(4_900);
    expect(state.armHoldRemainingMs(KEY, 5_100)).toBeUndefined();
    state.armWaveEnded(KEY, new Error('other'), 200);
    expect(state.armHoldRemainingMs(KEY, 300)).toBeUndefined();
  });

  it('holds a refused identity for a growing while, skips those already held, and forgives one that landed', () => {
    const state = new TargetState({ identityCacheTtlMs: 1_000 });
    const { baseMs, jitter } = MIC_RETRY_POLICY.refusedIdentityBackoff;
    state.recordRefusals(KEY, new Map([['/b', 'gone']]), new Map(), new Set(), 0);
    const first = state.activeRefusals(KEY, 0).get('/b');
    expect(first).toMatchObject({ failures: 1, reason: 'gone' });
    expect(first!.until).toBeGreaterThanOrEqual(baseMs * (1 - jitter));
    expect(first!.until).toBeLessThanOrEqual(baseMs);

    // Still held: a wave that left it out does not count it again.
    state.recordRefusals(KEY, new Map([['/b', 'gone']]), state.activeRefusals(KEY, 1), new Set(), 1);
    expect(state.activeRefusals(KEY, 1).get('/b')?.failures).toBe(1);

    // Expired holds keep their count: the next refusal doubles the hold.
    expect(state.activeRefusals(KEY, 10_000).size).toBe(0);
    state.recordRefusals(KEY, new Map([['/b', 'gone']]), new Map(), new Set(), 10_000);
    expect(state.activeRefusals(KEY, 10_000).get('/b')?.failures).toBe(2);

    state.recordRefusals(KEY, new Map(), new Map(), new Set(['/b']), 10_001);
    expect(state.activeRefusals(KEY, 10_001).size).toBe(0);
  });

  it('forgets everything about a target at once', () => {
    const state = new TargetState({ identityCacheTtlMs: 1_000 });
    state.rememberIdentities(KEY, answer, 0);
    state.armWaveEnded(KEY, new ConflictError(context, 5_000), 0);
    state.recordRefusals(KEY, new Map([['/b', 'gone']]), new Map(), new Set(), 0);
    state.forget(KEY);
    expect(state.hasCachedIdentities(KEY)).toBe(false);
    expect(state.armHoldRemainingMs(KEY, 1)).toBeUndefined();
    expect(state.activeRefusals(KEY, 1).size).toBe(0);
  });
});

describe('refusedIdentityHoldMs', () => {
  it('doubles from 2 s to at most a minute', () => {
    const noJitter = (): number => 0;
    expect([1, 2, 3, 6, 7, 20].map((failures) => refusedIdentityHoldMs(failures, noJitter))).toEqual([2_000, 4_000, 8_000, 60_000, 60_000, 60_000]);
  });
});
