/**
 * Writes AzureAssignedIdentities exactly as upstream's MIC does, so either implementation's NMI reads
 * them: POST with the finalizer and `nodename` label, full embedded identity and binding, status
 * through a JSON patch on the main resource (there is no status subresource), and delete by removing
 * our finalizer. All writes go through {@link rawRequest}; errors name the AAI.
 * @module
 */
import type { KubeTarget } from '../kube/access.ts';
import {
  API_VERSION,
  ASSIGNED_IDENTITY_FINALIZER,
  AZURE_ASSIGNED_IDENTITY,
  GROUP,
  NODE_NAME_LABEL,
  PREEXISTING_ANNOTATION,
  TARGET_ANNOTATION,
  UNASSIGNED_AT_ANNOTATION,
  VERSION,
  type AssignedIdentityState,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
  type ObjectMeta,
} from '../api/index.ts';
import { isStatus, rawRequest } from '../kube/raw-client.ts';
import type { DesiredAssignment } from './model.ts';

const JSON_PATCH = 'application/json-patch+json';

/** JSON Pointer escaping of one path segment (RFC 6901). */
function pointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function path(namespace: string, name?: string): string {
  const base = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${AZURE_ASSIGNED_IDENTITY.plural}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/** The metadata worth embedding: identity of the object, labels, annotations (the namespaced one matters). */
function embeddedMetadata(metadata: ObjectMeta): Record<string, unknown> {
  return {
    name: metadata.name,
    namespace: metadata.namespace,
    ...(metadata.uid === undefined ? {} : { uid: metadata.uid }),
    ...(metadata.resourceVersion === undefined ? {} : { resourceVersion: metadata.resourceVersion }),
    ...(metadata.labels === undefined ? {} : { labels: metadata.labels }),
    ...(metadata.annotations === undefined ? {} : { annotations: metadata.annotations }),
  };
}

function embedIdentity(identity: AzureIdentity): Record<string, unknown> {
  return { apiVersion: API_VERSION, kind: 'AzureIdentity', metadata: embeddedMetadata(identity.metadata), spec: identity.spec };
}

function embedBinding(binding: AzureIdentityBinding): Record<string, unknown> {
  return { apiVersion: API_VERSION, kind: 'AzureIdentityBinding', metadata: embeddedMetadata(binding.metadata), spec: binding.spec };
}

/** The full object for a desired assignment, in `state` (Created, or Assigned when no Azure work is needed). */
export function assignedIdentityBody(
  desired: DesiredAssignment,
  preexisting: boolean,
  base?: AzureAssignedIdentity,
  state: AssignedIdentityState = 'Created',
  targetId?: string,
): Record<string, unknown> {
  // Ours are recomputed; everything else someone put on the object is kept.
  const annotations: Record<string, string> = Object.fromEntries(
    Object.entries(base?.metadata.annotations ?? {}).filter(([key]) => key !== UNASSIGNED_AT_ANNOTATION && key !== PREEXISTING_ANNOTATION && key !== TARGET_ANNOTATION),
  );
  if (preexisting) annotations[PREEXISTING_ANNOTATION] = 'true';
  if (targetId !== undefined) annotations[TARGET_ANNOTATION] = targetId;
  const finalizers = new Set(base?.metadata.finalizers ?? []);
  finalizers.add(ASSIGNED_IDENTITY_FINALIZER);
  return {
    apiVersion: API_VERSION,
    kind: AZURE_ASSIGNED_IDENTITY.kind,
    metadata: {
      name: desired.name,
      namespace: desired.namespace,
      ...(base?.metadata.resourceVersion === undefined ? {} : { resourceVersion: base.metadata.resourceVersion }),
      labels: { ...(base?.metadata.labels ?? {}), [NODE_NAME_LABEL]: desired.nodeName },
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
      finalizers: [...finalizers],
    },
    spec: {
      azureIdentityRef: embedIdentity(desired.identity),
      azureBindingRef: embedBinding(desired.binding),
      pod: desired.podName,
      podNamespace: desired.podNamespace,
      nodename: desired.nodeName,
    },
    status: { status: state, availableReplicas: 1 },
  };
}

/** The resource version of a write's response (for the write tracker). */
function versionOf(response: unknown): string {
  return (response as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion ?? '';
}

export class AssignedIdentityWriter {
  private readonly kubeConfig: KubeTarget;

  constructor(kubeConfig: KubeTarget) {
    this.kubeConfig = kubeConfig;
  }

  /**
   * Creates the AAI, or overwrites an existing one of that name, in `state`; returns the new
   * resource version.
   */
  async write(desired: DesiredAssignment, preexisting: boolean, current: AzureAssignedIdentity | undefined, state: AssignedIdentityState, targetId?: string): Promise<string> {
    const where = `AzureAssignedIdentity ${desired.namespace}/${desired.name}`;
    try {
      if (current === undefined) {
        try {
          return versionOf(await rawRequest(this.kubeConfig, { method: 'POST', path: path(desired.namespace), body: assignedIdentityBody(desired, preexisting, undefined, state, targetId) }));
        } catch (error) {
          if (!isStatus(error, 409)) throw error;
          // Our cache had not seen it yet: update what is there.
          const existing = (await rawRequest(this.kubeConfig, { method: 'GET', path: path(desired.namespace, desired.name) })) as AzureAssignedIdentity;
          return versionOf(
            await rawRequest(this.kubeConfig, { method: 'PUT', path: path(desired.namespace, desired.name), body: assignedIdentityBody(desired, preexisting, existing, state, targetId) }),
          );
        }
      }
      return versionOf(
        await rawRequest(this.kubeConfig, { method: 'PUT', path: path(desired.namespace, desired.name), body: assignedIdentityBody(desired, preexisting, current, state, targetId) }),
      );
    } catch (error) {
      throw new Error(`write ${where}`, { cause: error });
    }
  }

  /** Sets `status.status` with a JSON patch on the main resource, as upstream; returns the new resource version. */
  async setState(assigned: AzureAssignedIdentity, state: AssignedIdentityState, options: { unassignedAt?: string } = {}): Promise<string> {
    const namespace = assigned.metadata.namespace ?? '';
    const name = assigned.metadata.name ?? '';
    const operations: unknown[] =
      assigned.status === undefined
        ? [{ op: 'add', path: '/status', value: { status: state, availableReplicas: 1 } }]
        : [{ op: 'add', path: '/status/status', value: state }];
    if (options.unassignedAt !== undefined) {
      if (assigned.metadata.annotations === undefined) operations.push({ op: 'add', path: '/metadata/annotations', value: {} });
      operations.push({ op: 'add', path: `/metadata/annotations/${pointer(UNASSIGNED_AT_ANNOTATION)}`, value: options.unassignedAt });
    }
    try {
      return versionOf(await rawRequest(this.kubeConfig, { method: 'PATCH', path: path(namespace, name), contentType: JSON_PATCH, body: operations }));
    } catch (error) {
      throw new Error(`set AzureAssignedIdentity ${namespace}/${name} to ${state}`, { cause: error });
    }
  }

  /** Deletes the AAI, removing our finalizer so it goes at once; gone already counts as done. */
  async delete(assigned: AzureAssignedIdentity): Promise<void> {
    const namespace = assigned.metadata.namespace ?? '';
    const name = assigned.metadata.name ?? '';
    try {
      const finalizers = assigned.metadata.finalizers ?? [];
      const index = finalizers.indexOf(ASSIGNED_IDENTITY_FINALIZER);
      if (index >= 0) {
        await rawRequest(this.kubeConfig, {
          method: 'PATCH',
          path: path(namespace, name),
          contentType: JSON_PATCH,
          // The test op makes this fail instead of removing someone else's finalizer if the list changed.
          body: [
            { op: 'test', path: `/metadata/finalizers/${index}`, value: ASSIGNED_IDENTITY_FINALIZER },
            { op: 'remove', path: `/metadata/finalizers/${index}` },
          ],
        });
      }
      await rawRequest(this.kubeConfig, { method: 'DELETE', path: path(namespace, name) });
    } catch (error) {
      if (isStatus(error, 404)) return;
      throw new Error(`delete AzureAssignedIdentity ${namespace}/${name}`, { cause: error });
    }
  }
}
