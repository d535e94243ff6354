/**
 * JSON shapes of `Microsoft.Compute` resources as ARM returns them and the @azure/arm-compute
 * deserialisers read them (azure-protocols.md §3.1): VM, scale set, scale-set instance, and the
 * `identity` block with `userAssignedIdentities` values `{principalId, clientId}`.
 * @module
 */
import type { ComputeResource, ResourceIdentity, ScaleSetInstance, VirtualMachine, VirtualMachineScaleSet } from '../../state/model.ts';

export const VM_TYPE = 'Microsoft.Compute/virtualMachines';
export const VMSS_TYPE = 'Microsoft.Compute/virtualMachineScaleSets';
export const VMSS_INSTANCE_TYPE = 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines';

export interface WireIdentity {
  type: string;
  principalId?: string;
  tenantId?: string;
  userAssignedIdentities?: Record<string, { principalId?: string; clientId?: string }>;
}

/** Looks up a user-assigned identity's IDs; undefined for one deleted while assigned. */
export type UserAssignedLookup = (id: string) => { readonly principalId: string; readonly clientId: string } | undefined;

/**
 * The `identity` block, or undefined for type `None` (Compute then omits it). An identity deleted
 * while assigned stays listed (as in Azure) with an empty value.
 */
export function renderIdentity(identity: ResourceIdentity, lookup: UserAssignedLookup): WireIdentity | undefined {
  if (identity.type === 'None') return undefined;
  const wire: WireIdentity = { type: identity.type };
  if (identity.systemAssigned !== undefined) {
    wire.principalId = identity.systemAssigned.principalId;
    wire.tenantId = identity.systemAssigned.tenantId;
  }
  if (identity.userAssignedIdentities.length > 0) {
    wire.userAssignedIdentities = Object.fromEntries(
      identity.userAssignedIdentities.map((id) => {
        const record = lookup(id);
        return [id, record === undefined ? {} : { principalId: record.principalId, clientId: record.clientId }];
      }),
    );
  }
  return wire;
}

function common(resource: ComputeResource, type: string, lookup: UserAssignedLookup): Record<string, unknown> {
  const identity = renderIdentity(resource.identity, lookup);
  return {
    id: resource.id,
    name: resource.name,
    type,
    location: resource.location,
    tags: { ...resource.tags },
    ...(identity !== undefined ? { identity } : {}),
  };
}

export function renderVirtualMachine(vm: VirtualMachine, lookup: UserAssignedLookup): Record<string, unknown> {
  return {
    ...common(vm, VM_TYPE, lookup),
    properties: {
      vmId: vm.vmId,
      hardwareProfile: { vmSize: vm.vmSize },
      osProfile: { computerName: vm.name },
      provisioningState: vm.provisioningState,
    },
  };
}

export function renderScaleSet(scaleSet: VirtualMachineScaleSet, lookup: UserAssignedLookup): Record<string, unknown> {
  return {
    ...common(scaleSet, VMSS_TYPE, lookup),
    sku: { name: scaleSet.vmSize, tier: 'Standard', capacity: scaleSet.instances.length },
    properties: {
      singlePlacementGroup: true,
      orchestrationMode: 'Uniform',
      upgradePolicy: { mode: 'Manual' },
      virtualMachineProfile: {
        osProfile: { computerNamePrefix: scaleSet.name },
      },
      overprovision: false,
      provisioningState: scaleSet.provisioningState,
    },
  };
}

export function renderCompute(resource: ComputeResource, lookup: UserAssignedLookup): Record<string, unknown> {
  return resource.kind === 'vm' ? renderVirtualMachine(resource, lookup) : renderScaleSet(resource, lookup);
}

/** One scale-set instance (what AKS node names map to: `computerName`). */
export function renderScaleSetInstance(scaleSet: VirtualMachineScaleSet, instance: ScaleSetInstance): Record<string, unknown> {
  return {
    id: `${scaleSet.id}/virtualMachines/${instance.instanceId}`,
    name: `${scaleSet.name}_${instance.instanceId}`,
    type: VMSS_INSTANCE_TYPE,
    location: scaleSet.location,
    tags: { ...scaleSet.tags },
    instanceId: instance.instanceId,
    sku: { name: scaleSet.vmSize, tier: 'Standard' },
    properties: {
      vmId: instance.vmId,
      latestModelApplied: true,
      hardwareProfile: { vmSize: scaleSet.vmSize },
      osProfile: { computerName: instance.computerName },
      provisioningState: 'Succeeded',
    },
  };
}
