/**
 * The four @azure/arm-compute operations MIC calls (GET and PATCH of a VM and of a VM scale set),
 * from the SDK's modular API: its client context (`@azure/arm-compute/api`) plus the operation
 * modules of those two resource types. `ComputeManagementClient` builds every operation group of
 * Compute (454 modules, ~4 MB of RSS more than these: 89.9 vs 86.3 MB with the rest of MIC's
 * dependencies, measured with MIC's runtime flags); it is a thin wrapper over the same functions.
 *
 * The package exports its operation modules by file only, not by subpath: they are imported from the
 * installed package's directory, and checked, so a layout change fails loudly at start.
 * @module
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ComputeManagementContext } from '@azure/arm-compute/api';
import type {
  VirtualMachine,
  VirtualMachineScaleSet,
  VirtualMachineScaleSetsGetOptionalParams,
  VirtualMachineScaleSetsUpdateOptionalParams,
  VirtualMachineScaleSetUpdate,
  VirtualMachinesGetOptionalParams,
  VirtualMachinesUpdateOptionalParams,
  VirtualMachineUpdate,
} from '@azure/arm-compute';

export { createComputeManagement, type ComputeManagementContext } from '@azure/arm-compute/api';

/** GET and PATCH (awaiting its long-running operation) of one resource type. */
export interface ResourceOperations<Resource, Update, GetOptions, UpdateOptions> {
  get(context: ComputeManagementContext, resourceGroupName: string, name: string, options?: GetOptions): Promise<Resource>;
  update(context: ComputeManagementContext, resourceGroupName: string, name: string, parameters: Update, options?: UpdateOptions): PromiseLike<Resource>;
}

export interface ComputeOperations {
  readonly virtualMachines: ResourceOperations<VirtualMachine, VirtualMachineUpdate, VirtualMachinesGetOptionalParams, VirtualMachinesUpdateOptionalParams>;
  readonly virtualMachineScaleSets: ResourceOperations<VirtualMachineScaleSet, VirtualMachineScaleSetUpdate, VirtualMachineScaleSetsGetOptionalParams, VirtualMachineScaleSetsUpdateOptionalParams>;
}

/** The ESM operation module of `group` (e.g. `virtualMachines`) in the installed package. */
async function operationModule<T>(group: string): Promise<T> {
  const packageJson = createRequire(import.meta.url).resolve('@azure/arm-compute/package.json');
  const file = path.join(path.dirname(packageJson), 'dist', 'esm', 'api', group, 'operations.js');
  const loaded = (await import(pathToFileURL(file).href)) as Partial<ResourceOperations<unknown, unknown, unknown, unknown>>;
  if (typeof loaded.get !== 'function' || typeof loaded.update !== 'function') {
    throw new Error(`@azure/arm-compute: ${file} has no get/update operations (package layout changed?)`);
  }
  return loaded as T;
}

let loading: Promise<ComputeOperations> | undefined;

/** Loads the operation modules once per process. */
export function loadComputeOperations(): Promise<ComputeOperations> {
  loading ??= Promise.all([
    operationModule<ComputeOperations['virtualMachines']>('virtualMachines'),
    operationModule<ComputeOperations['virtualMachineScaleSets']>('virtualMachineScaleSets'),
  ]).then(([virtualMachines, virtualMachineScaleSets]) => ({ virtualMachines, virtualMachineScaleSets }));
  return loading;
}
