/**
 * The non-identity parts of a Compute PUT/PATCH body (tags, VM size, scale-set capacity), parsed and
 * validated, and how a finished operation applies them together with the new identity block.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { ComputeResource, ResourceIdentity, ScaleSetInstance, VirtualMachineScaleSet } from '../state/model.ts';
import { invalidParameter, invalidRequestContent } from './errors.ts';

/** Largest scale set the simulator builds (Azure: 1000 instances per uniform scale set). */
const MAX_CAPACITY = 1000;

/** The fields of a Compute write body the simulator understands. */
export interface ComputeBody {
  readonly location?: string;
  readonly tags?: Record<string, string>;
  readonly vmSize?: string;
  readonly capacity?: number;
  /** The raw `identity` object (validated by `applyIdentityUpdate`). */
  readonly identity: unknown;
}

/** Everything a finished operation writes into the resource. */
export interface ComputeChange {
  readonly identity: ResourceIdentity;
  /** User-assigned identities the change adds; each must still exist when the operation completes. */
  readonly addedIdentities: readonly string[];
  readonly tags?: Record<string, string>;
  readonly vmSize?: string;
  readonly capacity?: number;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function readTags(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value) || !Object.values(value).every((tag) => typeof tag === 'string')) throw invalidRequestContent('tags must be an object of strings');
  return { ...(value as Record<string, string>) };
}

/** Reads a VM (`properties.hardwareProfile.vmSize`) or scale-set (`sku.name`, `sku.capacity`) body. */
export function readComputeBody(body: unknown, kind: ComputeResource['kind']): ComputeBody {
  if (body === undefined) return { identity: undefined };
  if (!isRecord(body)) throw invalidRequestContent('the body must be a JSON object');
  const location = body['location'];
  if (location !== undefined && typeof location !== 'string') throw invalidParameter('location');
  const tags = readTags(body['tags']);
  let vmSize: unknown;
  let capacity: unknown;
  if (kind === 'vm') {
    const properties = body['properties'];
    const hardware = isRecord(properties) ? properties['hardwareProfile'] : undefined;
    vmSize = isRecord(hardware) ? hardware['vmSize'] : undefined;
  } else {
    const sku = body['sku'];
    vmSize = isRecord(sku) ? sku['name'] : undefined;
    capacity = isRecord(sku) ? sku['capacity'] : undefined;
  }
  if (vmSize !== undefined && vmSize !== null && typeof vmSize !== 'string') throw invalidParameter(kind === 'vm' ? 'hardwareProfile.vmSize' : 'sku.name');
  if (capacity !== undefined && capacity !== null && (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 0 || capacity > MAX_CAPACITY)) {
    throw invalidParameter('sku.capacity');
  }
  return {
    identity: body['identity'],
    ...(typeof location === 'string' ? { location } : {}),
    ...(tags !== undefined ? { tags } : {}),
    ...(typeof vmSize === 'string' ? { vmSize } : {}),
    ...(typeof capacity === 'number' ? { capacity } : {}),
  };
}

/** AKS-style computer name of instance `index`: the scale-set name plus six base-36 digits (`…vmss00000a`). */
export function instanceComputerName(scaleSetName: string, index: number): string {
  return scaleSetName + index.toString(36).padStart(6, '0');
}

/** Grows (new instances after the highest ID) or shrinks (highest IDs first) to `capacity`. */
function resize(scaleSet: VirtualMachineScaleSet, capacity: number): void {
  const instances: ScaleSetInstance[] = [...scaleSet.instances].sort((a, b) => Number(a.instanceId) - Number(b.instanceId));
  while (instances.length > capacity) instances.pop();
  let next = instances.reduce((highest, instance) => Math.max(highest, Number(instance.instanceId) + 1), 0);
  while (instances.length < capacity) {
    instances.push({ instanceId: String(next), computerName: instanceComputerName(scaleSet.name, next), vmId: randomUUID() });
    next++;
  }
  scaleSet.instances = instances;
}

/** Writes `change` into `resource` (in place). */
export function applyComputeChange(resource: ComputeResource, change: ComputeChange): void {
  resource.identity = structuredClone(change.identity);
  if (change.tags !== undefined) resource.tags = { ...change.tags };
  if (change.vmSize !== undefined) resource.vmSize = change.vmSize;
  if (change.capacity !== undefined && resource.kind === 'vmss') resize(resource, change.capacity);
}
