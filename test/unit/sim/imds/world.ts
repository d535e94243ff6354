/** A small simulated Azure for the IMDS unit tests: a VM with identities, a scale set, a bare VM. */
import { SimStore } from '../../../../src/sim/state/store.ts';
import type { UserAssignedIdentity, VirtualMachine, VirtualMachineScaleSet } from '../../../../src/sim/state/model.ts';

export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const SUB = '11111111-2222-3333-4444-555555555555';

export function identity(name: string, n: number): UserAssignedIdentity {
  return {
    id: `/subscriptions/${SUB}/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    name,
    subscriptionId: SUB,
    resourceGroup: 'rg-ids',
    location: 'westeurope',
    tags: {},
    clientId: `c000000${n}-0000-4000-8000-000000000000`,
    principalId: `0000000${n}-aaaa-4000-8000-000000000000`,
    tenantId: TENANT,
  };
}

export const alpha = identity('alpha', 1);
export const beta = identity('beta', 2);
export const gamma = identity('gamma', 3);

export function vm(name: string, identities: UserAssignedIdentity[], system?: { principalId: string; clientId: string }): VirtualMachine {
  return {
    kind: 'vm',
    id: `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachines/${name}`,
    name,
    subscriptionId: SUB,
    resourceGroup: 'rg-nodes',
    location: 'westeurope',
    tags: { pool: 'agent', env: 'test' },
    vmSize: 'Standard_D2s_v3',
    provisioningState: 'Succeeded',
    vmId: `11111111-0000-4000-8000-${name.padStart(12, '0').slice(-12)}`,
    identity: {
      type: system === undefined ? (identities.length > 0 ? 'UserAssigned' : 'None') : identities.length > 0 ? 'SystemAssigned, UserAssigned' : 'SystemAssigned',
      ...(system === undefined ? {} : { systemAssigned: { ...system, tenantId: TENANT } }),
      userAssignedIdentities: identities.map((item) => item.id),
    },
  };
}

export function scaleSet(name: string, identities: UserAssignedIdentity[]): VirtualMachineScaleSet {
  return {
    kind: 'vmss',
    id: `/subscriptions/${SUB}/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`,
    name,
    subscriptionId: SUB,
    resourceGroup: 'rg-nodes',
    location: 'westeurope',
    tags: {},
    vmSize: 'Standard_D4s_v3',
    provisioningState: 'Succeeded',
    instances: [
      { instanceId: '0', computerName: `${name}000000`, vmId: '22222222-0000-4000-8000-000000000000' },
      { instanceId: '1', computerName: `${name}000001`, vmId: '22222222-0000-4000-8000-000000000001' },
    ],
    identity: { type: 'UserAssigned', userAssignedIdentities: identities.map((item) => item.id) },
  };
}

export const SYSTEM = { principalId: '5a5a5a5a-0000-4000-8000-000000000000', clientId: '5c5c5c5c-0000-4000-8000-000000000000' };

/** node-one: alpha + beta; node-two: gamma only; node-sys: system-assigned + alpha; node-bare: none; pool VMSS: beta. */
export function world(): SimStore {
  const store = new SimStore(TENANT);
  for (const item of [alpha, beta, gamma]) store.putIdentity(structuredClone(item));
  store.putCompute(vm('node-one', [alpha, beta]));
  store.putCompute(vm('node-two', [gamma]));
  store.putCompute(vm('node-sys', [alpha], SYSTEM));
  store.putCompute(vm('node-bare', []));
  store.putCompute(scaleSet('aks-pool-vmss', [beta]));
  return store;
}
