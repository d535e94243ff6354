import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/command.ts';
import { parseEnableArgs } from '../../../src/cli/node-identity/flags.ts';
import { groupsOfNodes, planNodeIdentities, renderTable, withSystemAssigned, type ComputeView } from '../../../src/cli/node-identity/plan.ts';

const resource = (name: string, kind: 'vm' | 'vmss', identityType: string | undefined, principalId?: string): ComputeView => ({ kind, name, resourceGroup: 'MC_rg', id: `/x/${name}`, identityType, principalId });

describe('node-identity planning', () => {
  it('adds SystemAssigned and keeps UserAssigned', () => {
    expect(withSystemAssigned(undefined)).toBe('SystemAssigned');
    expect(withSystemAssigned('None')).toBe('SystemAssigned');
    expect(withSystemAssigned('UserAssigned')).toBe('SystemAssigned, UserAssigned');
    expect(withSystemAssigned('SystemAssigned,UserAssigned')).toBeUndefined();
    expect(withSystemAssigned('SystemAssigned')).toBeUndefined();
  });

  it('enables where missing, keeps the rest, VMs then scale sets, each by name', () => {
    const steps = planNodeIdentities([resource('vm-b', 'vm', 'UserAssigned'), resource('vm-a', 'vm', 'SystemAssigned', 'p-a'), resource('pool', 'vmss', undefined)]);
    expect(steps.map((step) => [step.resource.name, step.action, step.action === 'enable' ? step.type : step.principalId])).toEqual([
      ['vm-a', 'keep', 'p-a'],
      ['vm-b', 'enable', 'SystemAssigned, UserAssigned'],
      ['pool', 'enable', 'SystemAssigned'],
    ]);
  });

  it('collects the node resource groups of the nodes once each', () => {
    expect(groupsOfNodes([
      { subscriptionId: 'S', resourceGroup: 'MC_rg' },
      { subscriptionId: 's', resourceGroup: 'mc_RG' },
      { subscriptionId: 's', resourceGroup: 'other' },
    ])).toEqual([{ subscriptionId: 'S', resourceGroup: 'MC_rg' }, { subscriptionId: 's', resourceGroup: 'other' }]);
  });

  it('renders an aligned summary with errors after it', () => {
    const text = renderTable([
      { kind: 'vmss', name: 'pool', resourceGroup: 'MC_rg', systemIdentity: 'enabled', principalId: 'p1', roleAssignment: 'created' },
      { kind: 'vm', name: 'vm-long-name', resourceGroup: 'MC_rg', systemIdentity: 'failed', principalId: undefined, roleAssignment: 'skipped', error: 'not authorized' },
    ]);
    expect(text).toBe(
      [
        'KIND   NAME           RESOURCE GROUP   SYSTEM IDENTITY   PRINCIPAL ID   ROLE ASSIGNMENT',
        'VMSS   pool           MC_rg            enabled           p1             created',
        'VM     vm-long-name   MC_rg            failed            -              skipped',
        '',
        'Errors:',
        '  vm vm-long-name: not authorized',
        '',
      ].join('\n'),
    );
  });
});

describe('node-identity enable flags', () => {
  it('needs --role and checks the scope', () => {
    expect(() => parseEnableArgs([])).toThrow(UsageError);
    expect(() => parseEnableArgs(['--role', 'Reader', '--scope', 'nope'])).toThrow(/expected an ARM scope/);
    expect(parseEnableArgs(['--help'])).toBeUndefined();
    expect(parseEnableArgs(['--role', 'Reader', '--poll-interval=1s', '--output=json'])).toMatchObject({ role: 'Reader', scope: undefined, pollIntervalMs: 1_000, output: 'json' });
  });
});
