import { describe, expect, it } from 'vitest';
import type { OperationRecord } from '../../../src/sim/arm/operations.ts';
import { LroPollLog } from '../../../src/sim/arm/poll-log.ts';

function operation(id: string, resourceId: string, kind: OperationRecord['kind'] = 'vmssUpdate'): OperationRecord {
  return { id, kind, subscriptionId: 's', location: 'westeurope', resourceId, startTime: 0, dueTime: 1_000, status: 'InProgress', polls: 0, pollsInProgress: 0 };
}

describe('LroPollLog', () => {
  it('reports the live counts and status of the operations it follows', () => {
    const log = new LroPollLog();
    const record = operation('op-1', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool');
    log.started(record);
    record.polls = 4;
    record.pollsInProgress = 3;
    record.status = 'Succeeded';
    record.endTime = 2_000;
    expect(log.query()).toEqual([
      { operationId: 'op-1', kind: 'vmssUpdate', resourceId: record.resourceId, startTime: '1970-01-01T00:00:00.000Z', endTime: '1970-01-01T00:00:02.000Z', status: 'Succeeded', polls: 4, pollsInProgress: 3 },
    ]);
  });

  it('filters by resource substring (case-insensitive) and kind', () => {
    const log = new LroPollLog();
    log.started(operation('a', '/x/virtualMachines/node-1', 'vmUpdate'));
    log.started(operation('b', '/x/virtualMachines/node-2', 'vmDelete'));
    expect(log.query({ resource: 'NODE-1' }).map((entry) => entry.operationId)).toEqual(['a']);
    expect(log.query({ kind: 'vmDelete' }).map((entry) => entry.operationId)).toEqual(['b']);
  });

  it('keeps the latest `capacity` operations and forgets all on clear()', () => {
    const log = new LroPollLog(2);
    for (const id of ['a', 'b', 'c']) log.started(operation(id, `/r/${id}`));
    expect(log.query().map((entry) => entry.operationId)).toEqual(['b', 'c']);
    log.clear();
    expect(log.query()).toEqual([]);
    expect(() => new LroPollLog(0)).toThrow(/capacity/);
  });
});
