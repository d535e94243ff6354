import { describe, expect, it } from 'vitest';
import { parseProviderId, targetKey, targetResourceId } from '../../../src/azure/provider-id.ts';

describe('parseProviderId', () => {
  it.each([
    ['azure:///subscriptions/s/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool1-123-vmss/virtualMachines/3',
      { kind: 'vmss', subscriptionId: 's', resourceGroup: 'MC_rg', name: 'aks-pool1-123-vmss', instanceId: '3' }],
    ['azure:///subscriptions/s/resourcegroups/mc_rg/providers/microsoft.compute/virtualmachines/aks-agent-0',
      { kind: 'vm', subscriptionId: 's', resourceGroup: 'mc_rg', name: 'aks-agent-0' }],
    ['azure://subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1', { kind: 'vm', subscriptionId: 's', resourceGroup: 'rg', name: 'vm1' }],
  ])('%s', (providerId, expected) => {
    expect(parseProviderId(providerId)).toEqual(expected);
  });

  it.each([
    [undefined],
    [''],
    ['aws:///us-east-1a/i-0123'],
    ['kind://docker/kind/kind-control-plane'],
    ['azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss'],
    ['azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/virtualMachines/1'],
  ])('%j is not an Azure VM or scale-set instance', (providerId) => {
    expect(parseProviderId(providerId)).toBeUndefined();
  });

  it('keys targets case-insensitively', () => {
    const a = parseProviderId('azure:///subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/VMSS/virtualMachines/0')!;
    const b = parseProviderId('azure:///subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachinescalesets/vmss/virtualmachines/1')!;
    expect(targetKey(a)).toBe(targetKey(b));
    expect(targetResourceId(a)).toBe('/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/VMSS');
  });
});
