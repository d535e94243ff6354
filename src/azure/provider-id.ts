/**
 * Which Azure VM or VM scale set a Kubernetes node runs on, from its `spec.providerID`
 * (`azure:///subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<vm>`
 * or `.../virtualMachineScaleSets/<vmss>/virtualMachines/<instance>`). Identities are assigned to the
 * VM, or to the whole scale set's model.
 * @module
 */

/** A VM or VM scale set that identities are assigned to. */
export interface ComputeTargetRef {
  readonly kind: 'vm' | 'vmss';
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
}

/** A node's compute resource, plus the scale-set instance for VMSS nodes. */
export interface NodeCompute extends ComputeTargetRef {
  readonly instanceId?: string;
}

const PROVIDER_ID =
  /^azure:\/\/\/?subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.compute\/(virtualmachines|virtualmachinescalesets)\/([^/]+)(?:\/virtualmachines\/([^/]+))?$/i;

/** The compute resource behind a providerID, or undefined when it is not an Azure VM/VMSS ID. */
export function parseProviderId(providerId: string | undefined): NodeCompute | undefined {
  if (providerId === undefined) return undefined;
  const match = PROVIDER_ID.exec(providerId.trim());
  if (match === null) return undefined;
  const [, subscriptionId, resourceGroup, type, name, instanceId] = match;
  if (subscriptionId === undefined || resourceGroup === undefined || type === undefined || name === undefined) return undefined;
  const isScaleSet = type.toLowerCase() === 'virtualmachinescalesets';
  if (isScaleSet !== (instanceId !== undefined)) return undefined;
  return isScaleSet && instanceId !== undefined
    ? { kind: 'vmss', subscriptionId, resourceGroup, name, instanceId }
    : { kind: 'vm', subscriptionId, resourceGroup, name };
}

/** The ARM resource ID of a target, e.g. for PATCH URLs and messages. */
export function targetResourceId(target: ComputeTargetRef): string {
  const type = target.kind === 'vm' ? 'virtualMachines' : 'virtualMachineScaleSets';
  return `/subscriptions/${target.subscriptionId}/resourceGroups/${target.resourceGroup}/providers/Microsoft.Compute/${type}/${target.name}`;
}

/** A stable key for a target (ARM IDs are case-insensitive). */
export function targetKey(target: ComputeTargetRef): string {
  return targetResourceId(target).toLowerCase();
}

const TARGET_ID =
  /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.compute\/(virtualmachines|virtualmachinescalesets)\/([^/]+)$/i;

/** The target behind a VM or scale-set resource ID (as {@link targetResourceId} writes it), or undefined. */
export function parseTargetResourceId(id: string | undefined): ComputeTargetRef | undefined {
  const match = id === undefined ? null : TARGET_ID.exec(id.trim());
  if (match === null) return undefined;
  const [, subscriptionId, resourceGroup, type, name] = match;
  if (subscriptionId === undefined || resourceGroup === undefined || type === undefined || name === undefined) return undefined;
  return { kind: type.toLowerCase() === 'virtualmachines' ? 'vm' : 'vmss', subscriptionId, resourceGroup, name };
}
