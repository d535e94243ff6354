import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../support/manual-clock.ts';
import { ArmError } from '../../../../src/sim/arm/errors.ts';
import { retryAfterSeconds } from '../../../../src/sim/arm/handlers/operations.ts';
import type { ArmContext } from '../../../../src/sim/arm/context.ts';
import { OperationTracker, type LroKind } from '../../../../src/sim/arm/operations.ts';

const RESOURCE = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm';

describe('OperationTracker', () => {
  it('runs `complete` after the duration and reports InProgress until then', async () => {
    const clock = new ManualClock();
    const tracker = new OperationTracker(clock);
    let completed = 0;
    const operation = tracker.start({ kind: 'vmUpdate', subscriptionId: 's', location: 'West Europe', resourceId: RESOURCE, durationMs: 500, complete: () => {
        completed++;
        return undefined;
      },
    });
    expect(operation).toMatchObject({ status: 'InProgress', location: 'westeurope' });
    expect(tracker.runningOn(RESOURCE.toUpperCase())).toBe(operation);
    expect(tracker.remainingMs(operation)).toBe(500);
    await clock.advance(499);
    expect(tracker.get(operation.id)?.status).toBe('InProgress');
    await clock.advance(1);
    expect(completed).toBe(1);
    expect(tracker.get(operation.id)).toMatchObject({ status: 'Succeeded', endTime: clock.now() });
    expect(tracker.runningOn(RESOURCE)).toBeUndefined();
  });

  it('fails the operation with the error `complete` returns', async () => {
    const clock = new ManualClock();
    const tracker = new OperationTracker(clock);
    const failure = new ArmError(400, 'FailedIdentityOperation', 'gone');
    const operation = tracker.start({ kind: 'vmUpdate', subscriptionId: 's', location: 'eastus', resourceId: RESOURCE, durationMs: 10, complete: () => failure });
    await clock.advance(10);
    expect(tracker.get(operation.id)).toMatchObject({ status: 'Failed', error: failure });
  });

  it('settles an overdue operation when looked at, even before its timer fires', () => {
    let now = 1_000;
    const tracker = new OperationTracker({ now: () => now, setTimer: () => () => undefined, sleep: () => Promise.resolve() });
    let completed = false;
    const operation = tracker.start({ kind: 'vmUpdate', subscriptionId: 's', location: 'eastus', resourceId: RESOURCE, durationMs: 100, complete: () => void (completed = true) });
    now += 100;
    expect(tracker.get(operation.id.toUpperCase())?.status).toBe('Succeeded');
    expect(completed).toBe(true);
  });

  it('turns a throwing `complete` into a failed operation and reports the exception', async () => {
    const clock = new ManualClock();
    const reported: unknown[] = [];
    const tracker = new OperationTracker(clock, (error) => reported.push(error));
    const operation = tracker.start({
      kind: 'vmUpdate',
      subscriptionId: 's',
      location: 'eastus',
      resourceId: RESOURCE,
      durationMs: 0,
      complete: () => {
        throw new Error('bug');
      },
    });
    await clock.advance(0);
    expect(tracker.get(operation.id)).toMatchObject({ status: 'Failed', error: { code: 'InternalExecutionError' } });
    expect(reported).toHaveLength(1);
  });

  it('close() cancels pending timers', () => {
    const clock = new ManualClock();
    const tracker = new OperationTracker(clock);
    tracker.start({ kind: 'vmUpdate', subscriptionId: 's', location: 'eastus', resourceId: RESOURCE, durationMs: 100, complete: () => undefined });
    expect(clock.pendingTimers).toBe(1);
    tracker.close();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('retryAfterSeconds', () => {
  const withSeconds = (seconds?: Partial<Record<LroKind, number>>) => ({ deps: { lroRetryAfterSeconds: { vmUpdate: 1, vmssUpdate: 1, vmDelete: 1, vmssDelete: 1, ...seconds } } }) as unknown as Pick<ArmContext, 'deps'>;

  it('sends the seconds configured for the operation kind', () => {
    const context = withSeconds({ vmssUpdate: 10, vmDelete: 3 });
    expect(retryAfterSeconds(context, 'vmssUpdate')).toBe('10');
    expect(retryAfterSeconds(context, 'vmDelete')).toBe('3');
    expect(retryAfterSeconds(context, 'vmUpdate')).toBe('1');
  });

  it('never sends 0 (go-autorest would poll again at once): 1 by default and as the floor', () => {
    expect(retryAfterSeconds({ deps: {} } as unknown as Pick<ArmContext, 'deps'>, 'vmssUpdate')).toBe('1');
    expect(retryAfterSeconds(withSeconds({ vmUpdate: 0 }), 'vmUpdate')).toBe('1');
    expect(retryAfterSeconds(withSeconds({ vmUpdate: 0.4 }), 'vmUpdate')).toBe('1');
    expect(retryAfterSeconds(withSeconds({ vmUpdate: Number.NaN }), 'vmUpdate')).toBe('1');
  });
});
