/**
 * Reading any of the four custom resources by its `kind`.
 * @module
 */
import { readAzureAssignedIdentity } from './assigned-identity.ts';
import { readAzureIdentityBinding } from './binding.ts';
import { InvalidResourceError } from './errors.ts';
import { readAzurePodIdentityException } from './exception.ts';
import { isJsonObject } from './fields.ts';
import { readAzureIdentity } from './identity.ts';
import { API_VERSION } from './names.ts';
import type { PodIdentityResource } from './types.ts';

/** True when raw JSON claims to be one of the four kinds (`apiVersion` aadpodidentity.k8s.io/v1). */
export function isPodIdentityApiObject(raw: unknown): boolean {
  return isJsonObject(raw) && raw['apiVersion'] === API_VERSION;
}

/**
 * Reads raw JSON as whichever of the four kinds its `kind` names, with the kind's reader.
 * Throws `InvalidResourceError` for an unknown or missing kind, or an invalid object.
 */
export function readPodIdentityResource(raw: unknown): PodIdentityResource {
  const kind = isJsonObject(raw) ? raw['kind'] : undefined;
  switch (kind) {
    case 'AzureIdentity':
      return readAzureIdentity(raw);
    case 'AzureIdentityBinding':
      return readAzureIdentityBinding(raw);
    case 'AzureAssignedIdentity':
      return readAzureAssignedIdentity(raw);
    case 'AzurePodIdentityException':
      return readAzurePodIdentityException(raw);
    default:
      throw new InvalidResourceError({ kind: typeof kind === 'string' ? kind : '(no kind)' }, 'kind', 'is not a pod-identity kind');
  }
}
