/**
 * `GET /metadata/instance` for a simulated node: `compute` and `network` as IMDS returns them, every
 * primitive a string and absent values `""` (azure-protocols.md §1.5). Plus route filtering
 * (`/metadata/instance/compute/location`) and `format=text`. Pure.
 * @module
 */
import { createHash } from 'node:crypto';
import type { ComputeTarget } from '../state/store.ts';

export type MetadataValue = string | MetadataValue[] | { [key: string]: MetadataValue };

/** A type alias (not an interface) so that it is itself a {@link MetadataValue}. */
export type InstanceMetadata = {
  compute: { [key: string]: MetadataValue };
  network: { [key: string]: MetadataValue };
};

/** A stable private address and MAC per node (the model has no NICs). */
function nodeNetwork(nodeName: string): { privateIp: string; mac: string } {
  const digest = createHash('sha256').update(nodeName.toLowerCase()).digest();
  const host = 4 + ((digest[0] ?? 0) % 250);
  const mac = ['00', '0D', '3A', ...[...digest.subarray(1, 4)].map((byte) => byte.toString(16).padStart(2, '0').toUpperCase())].join('');
  return { privateIp: `10.224.0.${host}`, mac };
}

export function instanceMetadata(target: ComputeTarget, nodeName: string): InstanceMetadata {
  const { resource, instance } = target;
  const isScaleSet = resource.kind === 'vmss';
  // A scale-set instance is named `<scale set>_<instance id>` and has its own resource ID.
  const name = isScaleSet && instance !== undefined ? `${resource.name}_${instance.instanceId}` : resource.name;
  const resourceId = isScaleSet && instance !== undefined ? `${resource.id}/virtualMachines/${instance.instanceId}` : resource.id;
  const vmId = resource.kind === 'vm' ? resource.vmId : (instance?.vmId ?? '');
  const tags = Object.entries(resource.tags);
  const { privateIp, mac } = nodeNetwork(nodeName);
  return {
    compute: {
      azEnvironment: 'AzurePublicCloud',
      customData: '',
      evictionPolicy: '',
      isHostCompatibilityLayerVm: 'false',
      licenseType: '',
      location: resource.location,
      name,
      offer: '',
      osProfile: { adminUsername: 'azureuser', computerName: instance?.computerName ?? resource.name, disablePasswordAuthentication: 'true' },
      osType: 'Linux',
      placementGroupId: '',
      plan: { name: '', product: '', publisher: '' },
      platformFaultDomain: '0',
      platformUpdateDomain: '0',
      priority: '',
      provider: 'Microsoft.Compute',
      publicKeys: [],
      publisher: '',
      resourceGroupName: resource.resourceGroup,
      resourceId,
      securityProfile: { secureBootEnabled: 'false', virtualTpmEnabled: 'false' },
      sku: '',
      subscriptionId: resource.subscriptionId,
      tags: tags.map(([key, value]) => `${key}:${value}`).join(';'),
      tagsList: tags.map(([key, value]) => ({ name: key, value })),
      userData: '',
      version: '',
      vmId,
      vmScaleSetName: isScaleSet ? resource.name : '',
      vmSize: resource.vmSize,
      zone: '',
    },
    network: {
      interface: [
        {
          ipv4: { ipAddress: [{ privateIpAddress: privateIp, publicIpAddress: '' }], subnet: [{ address: '10.224.0.0', prefix: '16' }] },
          ipv6: { ipAddress: [] },
          macAddress: mac,
        },
      ],
    },
  };
}

/**
 * The node at `path` below the document (`['compute', 'location']`, array indexes as numbers), or
 * undefined when there is none. Keys match exactly, as in IMDS.
 */
export function selectMetadata(document: MetadataValue, path: readonly string[]): MetadataValue | undefined {
  let node: MetadataValue | undefined = document;
  for (const segment of path) {
    if (node === undefined || typeof node === 'string') return undefined;
    if (Array.isArray(node)) {
      const index = /^\d+$/.test(segment) ? Number(segment) : Number.NaN;
      node = Number.isNaN(index) ? undefined : node[index];
    } else {
      node = Object.hasOwn(node, segment) ? node[segment] : undefined;
    }
  }
  return node;
}

/** `format=text`: a leaf as is; an object lists its keys, an array its indexes, one a line. */
export function metadataAsText(value: MetadataValue): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((_, index) => `${index}/`).join('\n');
  return Object.entries(value)
    .map(([key, child]) => (typeof child === 'string' ? key : `${key}/`))
    .join('\n');
}
