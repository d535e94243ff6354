import { describe, expect, it } from 'vitest';
import { availableIdentities, readIdentitySelector, selectIdentity, type AvailableIdentities } from '../../../../src/sim/imds/select-identity.ts';
import type { ManagedIdentityPrincipal } from '../../../../src/sim/tokens/claims.ts';
import { alpha, beta, SYSTEM, world } from './world.ts';

const principal = (item: typeof alpha): ManagedIdentityPrincipal => ({ clientId: item.clientId, principalId: item.principalId, resourceId: item.id });
const system: ManagedIdentityPrincipal = { ...SYSTEM, resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm' };
const two: AvailableIdentities = { userAssigned: [principal(alpha), principal(beta)] };
const one: AvailableIdentities = { userAssigned: [principal(alpha)] };
const withSystem: AvailableIdentities = { userAssigned: [principal(alpha)], systemAssigned: system };
const none: AvailableIdentities = { userAssigned: [] };

describe('selectIdentity', () => {
  it.each([
    ['no selector, system-assigned enabled → system-assigned', {}, withSystem, system],
    ['no selector, one user-assigned → it', {}, one, principal(alpha)],
    ['client_id', { clientId: beta.clientId }, two, principal(beta)],
    ['client_id in upper case', { clientId: beta.clientId.toUpperCase() }, two, principal(beta)],
    ['object_id', { objectId: alpha.principalId }, two, principal(alpha)],
    ['resource ID with other casing', { resourceId: beta.id.replace('resourceGroups', 'resourcegroups').toUpperCase() }, two, principal(beta)],
    ['system-assigned by its client ID', { clientId: SYSTEM.clientId }, withSystem, system],
    ['several selectors naming the same identity', { clientId: alpha.clientId, resourceId: alpha.id }, two, principal(alpha)],
  ])('%s', (_name, selector, available, expected) => {
    expect(selectIdentity(selector, available)).toEqual({ kind: 'selected', identity: expected });
  });

  it.each([
    ['no selector, several user-assigned, no system-assigned', {}, two, 'ambiguous'],
    ['no selector, no identity at all', {}, none, 'not-found'],
    ['client_id not on this VM', { clientId: 'ffffffff-0000-4000-8000-000000000000' }, two, 'not-found'],
    ['selectors naming different identities', { clientId: alpha.clientId, objectId: beta.principalId }, two, 'not-found'],
    ['system-assigned by resource ID (not selectable that way)', { resourceId: system.resourceId }, withSystem, 'not-found'],
  ])('%s → %s', (_name, selector, available, kind) => {
    expect(selectIdentity(selector, available).kind).toBe(kind);
  });
});

describe('readIdentitySelector', () => {
  it.each([
    ['client_id=a', { clientId: 'a' }],
    ['object_id=b', { objectId: 'b' }],
    ['msi_res_id=%2Fsubscriptions%2Fx', { resourceId: '/subscriptions/x' }],
    ['mi_res_id=%2Fsubscriptions%2Fy', { resourceId: '/subscriptions/y' }],
    ['CLIENT_ID=c&resource=r', { clientId: 'c' }],
    ['resource=r', {}],
  ])('%s', (query, expected) => {
    expect(readIdentitySelector(new URLSearchParams(query))).toEqual(expected);
  });
});

describe('availableIdentities', () => {
  it('resolves assigned IDs and gives the system-assigned identity the VM ID as xms_mirid', () => {
    const store = world();
    const target = store.findComputeByNodeName('node-sys');
    if (target === undefined) throw new Error('fixture');
    const available = availableIdentities(target.resource, store.assignedIdentities(target.resource));
    expect(available.userAssigned).toEqual([principal(alpha)]);
    expect(available.systemAssigned).toEqual({ ...SYSTEM, resourceId: target.resource.id });
  });
});
