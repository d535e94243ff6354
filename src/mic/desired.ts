/**
 * Desired state: which (pod, identity) pairs should exist, as a pure function of a cluster snapshot.
 * Upstream's rules (behaviour reference §2.4 step 4), with its fixes:
 * - a pod needs a node, a non-empty `aadpodidbinding` label, and must not have finished
 *   (Succeeded/Failed pods need no identity; upstream kept theirs);
 * - bindings match by exact string equality of `selector` and the label, in any namespace;
 * - the identity is looked up by name in the binding's namespace;
 * - namespaced identities (flag or annotation) need identity, binding and pod in one namespace;
 * - type-0 identities need a valid user-assigned identity resource ID; the other types (service
 *   principals, federated identities) are never assigned to a node, so their resource ID is not read;
 * - the result is deterministic: bindings are visited in (namespace, name) order, and on an AAI name
 *   collision the first wins (and a problem is reported instead of picking at random).
 * @module
 */
import {
  assignedIdentityName,
  assignedIdentityNamespace,
  isNamespacedIdentity,
  isUserAssignedIdentityId,
  needsNodeAssignment,
  type AzureIdentityBinding,
} from '../api/index.ts';
import { objectKey, type ClusterSnapshot, type DesiredAssignment, type DesiredProblem, type DesiredState, type MicPolicy, type PodInfo } from './model.ts';

/** Pods in these phases run no containers any more and need no identity. */
const FINISHED_PHASES = new Set(['Succeeded', 'Failed']);

/** Whether a pod is a candidate for identities at all (before matching bindings). */
export function podWantsIdentity(pod: PodInfo): boolean {
  return pod.nodeName !== '' && pod.bindingLabel !== undefined && pod.bindingLabel !== '' && !FINISHED_PHASES.has(pod.phase);
}

/** Bindings grouped by selector, each group sorted by (namespace, name). */
export function indexBindingsBySelector(bindings: Iterable<AzureIdentityBinding>): Map<string, AzureIdentityBinding[]> {
  const bySelector = new Map<string, AzureIdentityBinding[]>();
  for (const binding of bindings) {
    const selector = binding.spec.selector;
    if (selector === '') continue;
    const group = bySelector.get(selector);
    if (group === undefined) bySelector.set(selector, [binding]);
    else group.push(binding);
  }
  const order = (binding: AzureIdentityBinding): string => `${binding.metadata.namespace ?? ''}\u0000${binding.metadata.name ?? ''}`;
  for (const group of bySelector.values()) group.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return bySelector;
}

/** Computes every assignment the snapshot asks for, and why some requested ones cannot exist. */
export function computeDesiredState(snapshot: ClusterSnapshot, policy: MicPolicy): DesiredState {
  const bySelector = indexBindingsBySelector(snapshot.bindings);
  const assignments = new Map<string, DesiredAssignment>();
  const problems: DesiredProblem[] = [];

  for (const pod of snapshot.pods) {
    if (!podWantsIdentity(pod)) continue;
    const matching = bySelector.get(pod.bindingLabel ?? '');
    if (matching === undefined) continue;
    for (const binding of matching) {
      const bindingNamespace = binding.metadata.namespace ?? '';
      const bindingName = binding.metadata.name ?? '';
      const problem = (kind: DesiredProblem['kind'], message: string): void => {
        problems.push({ kind, podNamespace: pod.namespace, podName: pod.name, binding: { namespace: bindingNamespace, name: bindingName }, message });
      };
      const identity = snapshot.identities.get(objectKey(bindingNamespace, binding.spec.azureIdentity));
      if (identity === undefined) {
        problem('identity-not-found', `AzureIdentity ${bindingNamespace}/${binding.spec.azureIdentity} named by binding ${bindingNamespace}/${bindingName} does not exist`);
        continue;
      }
      if (isNamespacedIdentity(identity, policy.forceNamespaced) && !(bindingNamespace === pod.namespace && identity.metadata.namespace === pod.namespace)) {
        problem(
          'namespace-mismatch',
          `AzureIdentity ${bindingNamespace}/${binding.spec.azureIdentity} is namespaced: pod ${pod.namespace}/${pod.name} must be in namespace ${bindingNamespace} to use it`,
        );
        continue;
      }
      let resourceIdKey: string | undefined;
      if (needsNodeAssignment(identity.spec.type)) {
        const resourceId = identity.spec.resourceID ?? '';
        if (!isUserAssignedIdentityId(resourceId)) {
          problem('invalid-resource-id', `AzureIdentity ${bindingNamespace}/${binding.spec.azureIdentity} has no valid user-assigned identity resourceID ('${resourceId}')`);
          continue;
        }
        resourceIdKey = resourceId.toLowerCase();
      }
      const name = assignedIdentityName({ podName: pod.name, podNamespace: pod.namespace, identityName: identity.metadata.name ?? '' });
      const namespace = assignedIdentityNamespace(identity, policy.forceNamespaced);
      const key = objectKey(namespace, name);
      if (assignments.has(key)) {
        // Same-named identities in two namespaces bound to one pod (upstream issue #1065).
        problem('duplicate-name', `AzureAssignedIdentity ${key} is already taken by another identity of the same name; pod ${pod.namespace}/${pod.name} gets only the first`);
        continue;
      }
      assignments.set(key, { name, namespace, podName: pod.name, podNamespace: pod.namespace, podUid: pod.uid, nodeName: pod.nodeName, identity, binding, resourceIdKey });
    }
  }
  return { assignments, problems };
}
