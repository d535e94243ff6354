/**
 * Reading AzureAssignedIdentity objects, and where MIC puts them (name and namespace).
 * @module
 */
import { isAssignedIdentityState, type AssignedIdentityState } from './assigned-state.ts';
import { readAzureIdentityBinding } from './binding.ts';
import { readEnvelope } from './envelope.ts';
import { withoutUndefined, type ObjectReader } from './fields.ts';
import { isNamespacedIdentity, readAzureIdentity } from './identity.ts';
import { API_VERSION, AZURE_ASSIGNED_IDENTITY } from './names.ts';
import type { AzureAssignedIdentity, AzureAssignedIdentityStatus, AzureIdentity } from './types.ts';

/**
 * Reads raw JSON from the API server as an AzureAssignedIdentity, written by either
 * implementation's MIC. The embedded identity and binding are read (and normalised) like
 * top-level ones; errors inside them name the AAI and the path, e.g.
 * `spec.azureIdentityRef.spec.type`. Throws `InvalidResourceError`.
 */
export function readAzureAssignedIdentity(raw: unknown): AzureAssignedIdentity {
  const { metadata, spec, status } = readEnvelope(raw, AZURE_ASSIGNED_IDENTITY.kind);
  const identityRef = spec.find('azureIdentityRef');
  const bindingRef = spec.find('azureBindingRef');
  const assigned: AzureAssignedIdentity = {
    apiVersion: API_VERSION,
    kind: AZURE_ASSIGNED_IDENTITY.kind,
    metadata,
    spec: withoutUndefined({
      azureIdentityRef:
        identityRef === undefined
          ? undefined
          : readAzureIdentity(identityRef.value, { owner: spec.owner, path: spec.pathOf(identityRef.key) }),
      azureBindingRef:
        bindingRef === undefined
          ? undefined
          : readAzureIdentityBinding(bindingRef.value, { owner: spec.owner, path: spec.pathOf(bindingRef.key) }),
      pod: spec.string('pod') ?? '',
      podNamespace: spec.string('podNamespace') ?? '',
      nodename: spec.string('nodename') ?? '',
      replicas: spec.integer('replicas'),
    }),
  };
  if (status !== undefined) assigned.status = readStatus(status);
  return assigned;
}

function readStatus(status: ObjectReader): AzureAssignedIdentityStatus {
  return withoutUndefined({ status: readState(status), availableReplicas: status.integer('availableReplicas') });
}

function readState(status: ObjectReader): AssignedIdentityState | '' | undefined {
  const state = status.string('status');
  if (state === undefined || state === '' || isAssignedIdentityState(state)) return state;
  return status.fail(
    status.find('status')?.key ?? 'status',
    `must be Created, Assigned or Unassigned (or empty in old objects), got ${JSON.stringify(state)}`,
  );
}

/** The pod and identity an AzureAssignedIdentity joins. */
export interface AssignmentKey {
  readonly podName: string;
  readonly podNamespace: string;
  readonly identityName: string;
}

/**
 * Name of the AAI for a pod and identity: `<podName>-<podNamespace>-<identityName>`, plain
 * concatenation as upstream (no hashing or truncation, so both implementations find each other's).
 */
export function assignedIdentityName(key: AssignmentKey): string {
  return `${key.podName}-${key.podNamespace}-${key.identityName}`;
}

/** Namespace of every AAI of a non-namespaced identity (upstream's choice, kept for compatibility). */
export const DEFAULT_ASSIGNED_IDENTITY_NAMESPACE = 'default';

/**
 * Namespace MIC creates an identity's AAIs in: `default`, or the identity's own namespace when the
 * identity is namespaced (see `isNamespacedIdentity`).
 */
export function assignedIdentityNamespace(identity: AzureIdentity, forceNamespaced: boolean): string {
  const namespace = identity.metadata.namespace;
  const namespaced = isNamespacedIdentity(identity, forceNamespaced);
  return namespaced && namespace !== undefined && namespace !== '' ? namespace : DEFAULT_ASSIGNED_IDENTITY_NAMESPACE;
}
