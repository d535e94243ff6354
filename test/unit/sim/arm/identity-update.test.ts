import { describe, expect, it } from 'vitest';
import { applyIdentityUpdate, parseIdentityType, requestedAdditions, type IdentityUpdateContext } from '../../../../src/sim/arm/identity-update.ts';
import type { ResourceIdentity } from '../../../../src/sim/state/model.ts';

const SUB = '00000000-0000-4000-8000-000000000001';
const VMSS = `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss`;
const uami = (name: string): string => `/subscriptions/${SUB}/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const A = uami('a');
const B = uami('b');
const C = uami('c');
const GHOST = uami('Ghost');

/** A world with identities a, b, c and id-0 … id-199; system identities get sequential IDs. */
function context(): IdentityUpdateContext & { created: number } {
  const known = new Map<string, { principalId: string; clientId: string }>();
  for (const name of ['a', 'b', 'c', ...Array.from({ length: 200 }, (_, i) => `id-${i}`)]) {
    known.set(uami(name).toLowerCase(), { principalId: `p-${name}`, clientId: `c-${name}` });
  }
  const ctx = {
    created: 0,
    resourceId: VMSS,
    userAssigned: (id: string) => known.get(id.toLowerCase()),
    newSystemAssigned: () => {
      ctx.created++;
      return { principalId: `sys-p-${ctx.created}`, clientId: `sys-c-${ctx.created}`, tenantId: 'tenant' };
    },
  };
  return ctx;
}

const none: ResourceIdentity = { type: 'None', userAssignedIdentities: [] };
const users = (...ids: string[]): ResourceIdentity => ({ type: 'UserAssigned', userAssignedIdentities: ids });
const system = { principalId: 'sys-old', clientId: 'sys-old-c', tenantId: 'tenant' };
const both = (...ids: string[]): ResourceIdentity => ({ type: 'SystemAssigned, UserAssigned', userAssignedIdentities: ids, systemAssigned: system });

function ok(current: ResourceIdentity, requested: unknown, mode: 'patch' | 'put' = 'patch') {
  const result = applyIdentityUpdate(current, requested, mode, context());
  if (!result.ok) throw new Error(`expected success, got ${result.error.code}: ${result.error.message}`);
  return result;
}

function error(current: ResourceIdentity, requested: unknown, mode: 'patch' | 'put' = 'patch') {
  const result = applyIdentityUpdate(current, requested, mode, context());
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.identity)}`);
  return result.error;
}

describe('parseIdentityType', () => {
  it.each([
    ['None', 'None'],
    ['none', 'None'],
    ['SystemAssigned', 'SystemAssigned'],
    ['userAssigned', 'UserAssigned'],
    ['SystemAssigned, UserAssigned', 'SystemAssigned, UserAssigned'],
    ['SystemAssigned,UserAssigned', 'SystemAssigned, UserAssigned'],
    ['userassigned ,  systemassigned', 'SystemAssigned, UserAssigned'],
  ])('%j → %j', (input, expected) => {
    expect(parseIdentityType(input)).toBe(expected);
  });

  it.each(['', 'Foo', 'None, UserAssigned', 'UserAssigned, UserAssigned', 'SystemAssigned;UserAssigned', 42, null])('rejects %j', (input) => {
    expect(parseIdentityType(input)).toBeUndefined();
  });
});

describe('applyIdentityUpdate: PATCH merges', () => {
  it('{} adds, keeping the caller’s casing of the new key', () => {
    const result = ok(users(A), { type: 'UserAssigned', userAssignedIdentities: { [B.replace('resourceGroups', 'resourcegroups')]: {} } });
    expect(result.identity).toEqual(users(A, B.replace('resourceGroups', 'resourcegroups')));
    expect(result.changes).toEqual({ added: [B.replace('resourceGroups', 'resourcegroups')], removed: [], systemAssigned: 'none' });
  });

  it('null removes, matching the key case-insensitively; unmentioned identities stay', () => {
    const result = ok(users(A, B, C), { type: 'UserAssigned', userAssignedIdentities: { [B.toLowerCase()]: null } });
    expect(result.identity).toEqual(users(A, C));
    expect(result.changes.removed).toEqual([B]);
  });

  it('an identity already assigned (other casing) is not added twice', () => {
    const result = ok(users(A), { type: 'UserAssigned', userAssignedIdentities: { [A.toUpperCase()]: {} } });
    expect(result.identity).toEqual(users(A));
    expect(result.changes.added).toEqual([]);
  });

  it('null for an identity that is not assigned changes nothing', () => {
    expect(ok(users(A), { type: 'UserAssigned', userAssignedIdentities: { [B]: null } }).identity).toEqual(users(A));
  });

  it('accepts the unchanged read-only object of an assigned identity', () => {
    const result = ok(users(A), { type: 'UserAssigned', userAssignedIdentities: { [A]: { principalId: 'p-a', clientId: 'c-a' }, [B]: {} } });
    expect(result.identity).toEqual(users(A, B));
  });

  it('no map with a UserAssigned type keeps the current set', () => {
    expect(ok(users(A, B), { type: 'UserAssigned' }).identity).toEqual(users(A, B));
  });

  it('an absent or null identity leaves everything as it is', () => {
    expect(ok(both(A), undefined).identity).toEqual(both(A));
    expect(ok(both(A), null).identity).toEqual(both(A));
  });

  it('a map without a type widens the current type to UserAssigned (lenient)', () => {
    const result = ok({ type: 'SystemAssigned', userAssignedIdentities: [], systemAssigned: system }, { userAssignedIdentities: { [A]: {} } });
    expect(result.identity).toEqual(both(A));
  });
});

describe('applyIdentityUpdate: PUT replaces', () => {
  it('the set is exactly the non-null entries', () => {
    const result = ok(users(A, B), { type: 'UserAssigned', userAssignedIdentities: { [B]: {}, [C]: {}, [A]: null } }, 'put');
    expect(result.identity).toEqual(users(B, C));
    expect(result.changes).toMatchObject({ added: [C], removed: [A] });
  });

  it('keeps the stored casing of identities that stay', () => {
    expect(ok(users(A), { type: 'UserAssigned', userAssignedIdentities: { [A.toLowerCase()]: {} } }, 'put').identity).toEqual(users(A));
  });
});

describe('applyIdentityUpdate: type transitions', () => {
  it('None → UserAssigned', () => {
    expect(ok(none, { type: 'UserAssigned', userAssignedIdentities: { [A]: {} } }).identity).toEqual(users(A));
  });

  it('UserAssigned → None drops every user identity', () => {
    const result = ok(users(A, B), { type: 'None' });
    expect(result.identity).toEqual(none);
    expect(result.changes.removed).toEqual([A, B]);
  });

  it('SystemAssigned, UserAssigned → SystemAssigned keeps the system identity (what MIC sends when the last user identity goes)', () => {
    const result = ok(both(A), { type: 'SystemAssigned' });
    expect(result.identity).toEqual({ type: 'SystemAssigned', userAssignedIdentities: [], systemAssigned: system });
    expect(result.changes.systemAssigned).toBe('kept');
  });

  it('SystemAssigned is preserved across user-identity changes', () => {
    const result = ok(both(A), { type: 'SystemAssigned,UserAssigned', userAssignedIdentities: { [A]: null, [B]: {} } });
    expect(result.identity).toEqual(both(B));
  });

  it('adding SystemAssigned creates a system identity with fresh IDs', () => {
    const result = ok(users(A), { type: 'systemassigned, userassigned' });
    expect(result.identity).toEqual({ type: 'SystemAssigned, UserAssigned', userAssignedIdentities: [A], systemAssigned: { principalId: 'sys-p-1', clientId: 'sys-c-1', tenantId: 'tenant' } });
    expect(result.changes.systemAssigned).toBe('added');
  });

  it('dropping SystemAssigned deletes the system identity', () => {
    const result = ok(both(A), { type: 'UserAssigned' });
    expect(result.identity).toEqual(users(A));
    expect(result.changes.systemAssigned).toBe('removed');
  });

  it('SystemAssigned → None', () => {
    expect(ok({ type: 'SystemAssigned', userAssignedIdentities: [], systemAssigned: system }, { type: 'None' }).identity).toEqual(none);
  });

  it('an empty map is fine with a non-UserAssigned type', () => {
    expect(ok(users(A), { type: 'None', userAssignedIdentities: {} }).identity).toEqual(none);
  });
});

describe('applyIdentityUpdate: errors', () => {
  it.each([
    ['a string', 'yes'],
    ['a number', 1],
    ['an array', []],
    ['another identity’s read-only object', { principalId: 'p-b' }],
    ['a changed read-only object', { principalId: 'p-a', clientId: 'wrong' }],
    ['unknown properties', { foo: 'bar' }],
  ])('%s as a value → 400 InvalidIdentityValues', (_what, value) => {
    const result = error(users(A), { type: 'UserAssigned', userAssignedIdentities: { [A]: value } });
    expect(result).toMatchObject({ status: 400, code: 'InvalidIdentityValues' });
    expect(result.message).toBe("The 'UserAssignedIdentities' property keys should only be empty json objects, null or the resource exisiting property.");
  });

  it('a read-only object for an identity not yet assigned → InvalidIdentityValues', () => {
    expect(error(users(A), { type: 'UserAssigned', userAssignedIdentities: { [B]: { principalId: 'p-b', clientId: 'c-b' } } }).code).toBe('InvalidIdentityValues');
  });

  it('UserAssigned with nothing left → 400 MissingIdentityIds', () => {
    const result = error(users(A), { type: 'UserAssigned', userAssignedIdentities: { [A]: null } });
    expect(result).toMatchObject({ status: 400, code: 'MissingIdentityIds', message: "The identity ids must not be null or empty for 'UserAssigned' identity type." });
    expect(error(none, { type: 'UserAssigned', userAssignedIdentities: {} }, 'put').code).toBe('MissingIdentityIds');
  });

  it.each(['None', 'SystemAssigned'])('a map with type %s → 400 BadRequest', (type) => {
    const result = error(users(A), { type, userAssignedIdentities: { [A]: null } });
    expect(result).toMatchObject({ status: 400, code: 'BadRequest', message: 'a non-UserAssigned identity type should not contain: userAssignedIdentities' });
  });

  it('an unknown type → 400 InvalidParameter on identity.type', () => {
    expect(error(none, { type: 'Managed' })).toMatchObject({ status: 400, code: 'InvalidParameter', target: 'identity.type' });
  });

  it('identity or map of the wrong JSON type → 400 InvalidRequestContent', () => {
    expect(error(none, 'UserAssigned').code).toBe('InvalidRequestContent');
    expect(error(none, { type: 'UserAssigned', userAssignedIdentities: [A] }).code).toBe('InvalidRequestContent');
  });

  it('an identity that does not exist → 400 FailedIdentityOperation with the ID lower-cased inside', () => {
    const result = error(users(A), { type: 'UserAssigned', userAssignedIdentities: { [GHOST]: {} } });
    expect(result).toMatchObject({ status: 400, code: 'FailedIdentityOperation' });
    expect(result.message).toBe(
      `Identity operation for resource '${VMSS}' failed with error 'Failed to perform resource identity operation. Status: 'BadRequest'. Response: '{"error":{"code":"BadRequest","message":"Resource '${GHOST.toLowerCase()}' was not found."}}'.'.`,
    );
  });

  it('more than 150 identity changes in one request → 400 with upstream’s message; exactly 150 is fine', () => {
    const add = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [uami(`id-${i}`), {}]));
    expect(ok(none, { type: 'UserAssigned', userAssignedIdentities: add(150) }).changes.added).toHaveLength(150);
    const result = error(none, { type: 'UserAssigned', userAssignedIdentities: add(165) });
    expect(result).toMatchObject({ status: 400, code: 'FailedIdentityOperation' });
    expect(result.message).toContain(`"message":"User Assigned Identities Number '165' Assign exceed limit '150' in one request."`);
  });

  it('removals count towards the limit too', () => {
    const assigned = users(...Array.from({ length: 151 }, (_, i) => uami(`id-${i}`)));
    expect(error(assigned, { type: 'None' }).message).toContain("Number '151' Assign exceed limit '150'");
  });

  it('does not mutate the current identity', () => {
    const current = both(A);
    const before = structuredClone(current);
    ok(current, { type: 'UserAssigned', userAssignedIdentities: { [B]: {} } });
    expect(current).toEqual(before);
  });
});

describe('requestedAdditions', () => {
  it('lists keys with non-null values that are not assigned yet', () => {
    expect(requestedAdditions(users(A), { type: 'UserAssigned', userAssignedIdentities: { [A.toLowerCase()]: {}, [B]: {}, [C]: null } })).toEqual([B]);
    expect(requestedAdditions(users(A), { type: 'None' })).toEqual([]);
    expect(requestedAdditions(users(A), undefined)).toEqual([]);
  });
});
