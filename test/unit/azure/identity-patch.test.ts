import { describe, expect, it } from 'vitest';
import { buildIdentityPatches } from '../../../src/azure/identity-patch.ts';

const id = (n: number | string): string => `/subscriptions/s/resourcegroups/rg/providers/microsoft.managedidentity/userassignedidentities/id${n}`;

describe('buildIdentityPatches', () => {
  it('adds with {} and lower-cased keys, keeping the type', () => {
    expect(buildIdentityPatches({ type: undefined, userAssignedIdentities: [] }, [id('A').replace('resourcegroups', 'resourceGroups')], [])).toEqual([
      { type: 'UserAssigned', userAssignedIdentities: { [id('a')]: {} } },
    ]);
  });

  it('keeps a system-assigned identity', () => {
    expect(buildIdentityPatches({ type: 'SystemAssigned', userAssignedIdentities: [] }, [id(1)], [])).toEqual([
      { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [id(1)]: {} } },
    ]);
    expect(buildIdentityPatches({ type: 'SystemAssigned,UserAssigned', userAssignedIdentities: [id(1)] }, [], [id(1)])).toEqual([{ type: 'SystemAssigned' }]);
  });

  it('removes with null, and switches to None when the last one goes', () => {
    expect(buildIdentityPatches({ type: 'UserAssigned', userAssignedIdentities: [id(1), id(2)] }, [], [id(1)])).toEqual([
      { type: 'UserAssigned', userAssignedIdentities: { [id(1)]: null } },
    ]);
    expect(buildIdentityPatches({ type: 'UserAssigned', userAssignedIdentities: [id(1)] }, [], [id(1).toUpperCase()])).toEqual([{ type: 'None' }]);
  });

  it('does nothing for identities already present or already absent; adds win over removes', () => {
    expect(buildIdentityPatches({ type: 'UserAssigned', userAssignedIdentities: [id(1).toUpperCase()] }, [id(1)], [id(9)])).toEqual([]);
    expect(buildIdentityPatches({ type: 'UserAssigned', userAssignedIdentities: [id(1)] }, [id(1)], [id(1)])).toEqual([]);
  });

  it('splits more than 150 changes into requests of at most 150, applied in order', () => {
    const adds = Array.from({ length: 165 }, (_, n) => id(n));
    const patches = buildIdentityPatches({ type: 'None', userAssignedIdentities: [] }, adds, []);
    expect(patches.map((patch) => Object.keys(patch.userAssignedIdentities ?? {}).length)).toEqual([150, 15]);
    const all = patches.flatMap((patch) => Object.keys(patch.userAssignedIdentities ?? {}));
    expect(new Set(all).size).toBe(165);
  });

  it('computes each chunk type from the state after that chunk', () => {
    const present = Array.from({ length: 160 }, (_, n) => id(n));
    const patches = buildIdentityPatches({ type: 'UserAssigned', userAssignedIdentities: present }, [], present);
    expect(patches).toHaveLength(2);
    expect(patches[0]?.type).toBe('UserAssigned');
    expect(Object.values(patches[0]?.userAssignedIdentities ?? {}).every((value) => value === null)).toBe(true);
    expect(patches[1]).toEqual({ type: 'None' });
  });
});
