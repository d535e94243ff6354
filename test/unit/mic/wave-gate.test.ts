import { describe, expect, it } from 'vitest';
import type { TargetIdentityState } from '../../../src/azure/compute-identity-client.ts';
import { NotFoundError, type ArmCallContext } from '../../../src/azure/errors.ts';
import type { ComputeTargetRef } from '../../../src/azure/provider-id.ts';
import { computeDesiredState } from '../../../src/mic/desired.ts';
import { objectKey } from '../../../src/mic/model.ts';
import { needsArmRead, waitsForWave, waveStep, type WaveGateInput } from '../../../src/mic/wave-gate.ts';
import { assignedFrom, binding, identity, identityId, pod, vmssNode } from '../../support/mic-fixtures.ts';

const TARGET = vmssNode('node-0').compute as ComputeTargetRef;
const START: TargetIdentityState = { identity: { type: 'None', userAssignedIdentities: [] }, provisioningState: 'Succeeded' };
const idA = identityId('a').toLowerCase();

const [typeZero, servicePrincipal, federated] = [
  ...computeDesiredState(
    {
      pods: [pod('p1', { label: 'a' }), pod('p2', { label: 'sp' }), pod('p3', { label: 'fed' })],
      nodes: new Map([['node-0', vmssNode('node-0')]]),
      identities: new Map([
        [objectKey('default', 'a'), identity('a')],
        [objectKey('default', 'sp'), identity('sp', { type: 1 })],
        [objectKey('default', 'fed'), identity('fed', { type: 3, resourceID: identityId('a') })],
      ]),
      bindings: [binding('a-binding', 'a', 'a'), binding('sp-binding', 'sp', 'sp'), binding('fed-binding', 'fed', 'fed')],
      assigned: new Map(),
    },
    { forceNamespaced: false },
  ).assignments.values(),
];

function gate(overrides: Partial<WaveGateInput>): WaveGateInput {
  return {
    target: TARGET,
    identities: START,
    plan: { identitiesToAdd: [idA], identitiesToRemove: [] },
    armHoldRemainingMs: undefined,
    targetGone: undefined,
    waitingWrites: 1,
    nodeNames: ['node-0'],
    ...overrides,
  };
}

describe('wave gate', () => {
  it('reads ARM only when a user-assigned identity is involved', () => {
    expect(needsArmRead([servicePrincipal!], [])).toBe(false);
    expect(needsArmRead([federated!], [assignedFrom(federated!, 'Unassigned')])).toBe(false);
    expect(needsArmRead([typeZero!], [])).toBe(true);
    expect(needsArmRead([], [assignedFrom(typeZero!, 'Unassigned')])).toBe(true);
  });

  it('writes an AAI Assigned at once when its identity is already on an Azure target', () => {
    expect(waitsForWave(typeZero!, new Set([idA]), true)).toBe(false);
    expect(waitsForWave(typeZero!, new Set(), true)).toBe(true);
    expect(waitsForWave(typeZero!, new Set([idA]), false)).toBe(true);
    expect(waitsForWave(servicePrincipal!, new Set(), false)).toBe(false);
    expect(waitsForWave(federated!, new Set(), true)).toBe(false);
    expect(waitsForWave(federated!, new Set(), false)).toBe(false);
  });

  it('sends the wave when there are changes and no hold; otherwise holds or skips', () => {
    expect(waveStep(gate({}))).toEqual({ kind: 'send', target: TARGET, start: START });
    expect(waveStep(gate({ armHoldRemainingMs: 300 }))).toEqual({ kind: 'held', heldMs: 300 });
    expect(waveStep(gate({ plan: { identitiesToAdd: [], identitiesToRemove: [] } }))).toEqual({ kind: 'skip', error: undefined });
  });

  it('fails the waiting AAIs of a target that is gone or not on Azure, without an ARM call', () => {
    const gone = new NotFoundError({ target: TARGET, resourceId: 'vmss', operation: 'vmss_get', statusCode: 404, armCode: 'NotFound', armMessage: '', requestId: undefined } satisfies ArmCallContext);
    expect(waveStep(gate({ identities: undefined, targetGone: gone }))).toEqual({ kind: 'skip', error: gone });
    const step = waveStep(gate({ target: undefined, identities: undefined, nodeNames: ['kind-worker'] }));
    expect(step.kind === 'skip' ? step.error?.message : undefined).toBe('nodes kind-worker have no Azure providerID: cannot assign user-assigned identities there');
    expect(waveStep(gate({ target: undefined, identities: undefined, waitingWrites: 0 }))).toEqual({ kind: 'skip', error: undefined });
  });
});
