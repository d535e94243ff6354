import { describe, expect, it } from 'vitest';
import { instanceMetadata, metadataAsText, selectMetadata } from '../../../../src/sim/imds/instance-metadata.ts';
import { SUB, world } from './world.ts';

const store = world();
const target = (node: string) => {
  const found = store.findComputeByNodeName(node);
  if (found === undefined) throw new Error(`fixture: ${node}`);
  return found;
};

describe('instanceMetadata', () => {
  it('describes a standalone VM', () => {
    const { compute } = instanceMetadata(target('node-one'), 'node-one');
    expect(compute).toMatchObject({
      azEnvironment: 'AzurePublicCloud',
      location: 'westeurope',
      name: 'node-one',
      osType: 'Linux',
      resourceGroupName: 'rg-nodes',
      resourceId: `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachines/node-one`,
      subscriptionId: SUB,
      vmScaleSetName: '',
      vmSize: 'Standard_D2s_v3',
      tags: 'pool:agent;env:test',
      tagsList: [
        { name: 'pool', value: 'agent' },
        { name: 'env', value: 'test' },
      ],
    });
  });

  it('describes a scale-set instance by its own name and ID', () => {
    const { compute } = instanceMetadata(target('aks-pool-vmss000001'), 'aks-pool-vmss000001');
    expect(compute).toMatchObject({
      name: 'aks-pool-vmss_1',
      vmScaleSetName: 'aks-pool-vmss',
      vmId: '22222222-0000-4000-8000-000000000001',
      resourceId: `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss/virtualMachines/1`,
      osProfile: { adminUsername: 'azureuser', computerName: 'aks-pool-vmss000001', disablePasswordAuthentication: 'true' },
    });
  });

  it('has only string leaves', () => {
    const leaves = (value: unknown): unknown[] =>
      typeof value === 'object' && value !== null ? Object.values(value).flatMap(leaves) : [value];
    expect(leaves(instanceMetadata(target('node-one'), 'node-one')).every((leaf) => typeof leaf === 'string')).toBe(true);
  });
});

describe('selectMetadata and metadataAsText', () => {
  const document = instanceMetadata(target('node-one'), 'node-one');
  it.each([
    [['compute', 'location'], 'westeurope'],
    [['compute', 'tagsList', '1', 'value'], 'test'],
    [['network', 'interface', '0', 'ipv6', 'ipAddress'], ''],
  ])('%j as text', (path, text) => {
    const value = selectMetadata(document, path);
    expect(value === undefined ? undefined : metadataAsText(value)).toBe(text);
  });
  it('is undefined for a missing node', () => {
    expect(selectMetadata(document, ['compute', 'nope'])).toBeUndefined();
    expect(selectMetadata(document, ['compute', 'location', 'deeper'])).toBeUndefined();
    expect(selectMetadata(document, ['compute', 'tagsList', 'x'])).toBeUndefined();
  });
  it('lists the keys of an object', () => {
    const value = selectMetadata(document, ['compute', 'osProfile']);
    expect(value === undefined ? undefined : metadataAsText(value)).toBe('adminUsername\ncomputerName\ndisablePasswordAuthentication');
  });
});
