/**
 * The opt-in readiness gate: a pod listing the condition `aadpodidentity.k8s.io/identity-ready` in
 * `spec.readinessGates` gets it set True once every identity it is bound to is Assigned, and False
 * with a reason until then. Kubelet keeps such a pod out of Service endpoints while False, so traffic
 * reaches it only when its token requests will succeed.
 * @module
 */
import type { KubeTarget } from '../kube/access.ts';
import { AssignedIdentityState, effectiveAssignedState, IDENTITY_READY_CONDITION, type AzureAssignedIdentity } from '../api/index.ts';
import { rawRequest } from '../kube/raw-client.ts';
import { objectKey, type DesiredState, type PodInfo } from './model.ts';

export interface IdentityReadiness {
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
}

/** Whether `pod`'s identities are all Assigned, from the desired state and the AAIs (pure). */
export function identityReadiness(pod: PodInfo, desired: DesiredState, assigned: ReadonlyMap<string, AzureAssignedIdentity>): IdentityReadiness {
  const mine = [...desired.assignments.values()].filter((entry) => entry.podNamespace === pod.namespace && entry.podName === pod.name);
  if (mine.length === 0) {
    const problem = desired.problems.find((entry) => entry.podNamespace === pod.namespace && entry.podName === pod.name);
    return problem === undefined
      ? { status: 'False', reason: 'NoMatchingBinding', message: `no AzureIdentityBinding has selector '${pod.bindingLabel ?? ''}'` }
      : { status: 'False', reason: 'IdentityUnavailable', message: problem.message };
  }
  const waiting = mine.filter((entry) => {
    const current = assigned.get(objectKey(entry.namespace, entry.name));
    return current === undefined || effectiveAssignedState(current.status?.status) !== AssignedIdentityState.Assigned;
  });
  if (waiting.length > 0) {
    return { status: 'False', reason: 'IdentityNotAssigned', message: `waiting for ${waiting.map((entry) => entry.identity.metadata.name ?? '').join(', ')} to be assigned` };
  }
  return { status: 'True', reason: 'IdentityAssigned', message: `identities assigned: ${mine.map((entry) => entry.identity.metadata.name ?? '').join(', ')}` };
}

/** Whether the pod's current condition differs from `wanted`. */
export function needsUpdate(pod: PodInfo, wanted: IdentityReadiness): boolean {
  return pod.readinessGate && (pod.identityReady !== wanted.status || pod.identityReadyReason !== wanted.reason);
}

/** Writes the condition with a strategic merge patch on the status subresource (conditions merge by type). */
export async function writeIdentityReadiness(kubeConfig: KubeTarget, pod: PodInfo, readiness: IdentityReadiness, now: Date): Promise<void> {
  await rawRequest(kubeConfig, {
    method: 'PATCH',
    path: `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/status`,
    contentType: 'application/strategic-merge-patch+json',
    body: {
      status: {
        conditions: [
          { type: IDENTITY_READY_CONDITION, status: readiness.status, reason: readiness.reason, message: readiness.message, lastTransitionTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z') },
        ],
      },
    },
  });
}
