/**
 * Phase "examples": examples/sandbox/*.yaml applied with kubectl, as a user would (federated.yaml
 * last); then, the sandbox being the pods' runtime (there is no kubelet), the three demo pods reported
 * Running with their addresses.
 * @module
 */
import type { ControlPlane } from '../../../devenv/control-plane.ts';
import type { KubeTarget } from '../../../kube/access.ts';
import { rawRequest } from '../../../kube/raw-client.ts';
import { ALLOWED_POD, DEMO_NAMESPACE, DENIED_POD, FEDERATED_POD, type Examples } from '../examples.ts';
import type { SandboxPod } from './node.ts';

export async function applyExamples(plane: Pick<ControlPlane, 'kubectl'>, kube: KubeTarget, examples: Examples, pods: readonly [SandboxPod, SandboxPod, SandboxPod]): Promise<void> {
  for (const file of [...examples.files, examples.federatedFile]) {
    const applied = await plane.kubectl(['apply', '-f', file]);
    if (applied.code !== 0) throw new Error(`kubectl apply -f ${file}: ${applied.stderr.trim()}`);
  }
  const [allowedPod, deniedPod, federatedPod] = pods;
  for (const [name, pod] of [[ALLOWED_POD, allowedPod], [DENIED_POD, deniedPod], [FEDERATED_POD, federatedPod]] as const) {
    await rawRequest(kube, {
      method: 'PATCH',
      path: `/api/v1/namespaces/${DEMO_NAMESPACE}/pods/${name}/status`,
      contentType: 'application/merge-patch+json',
      body: { status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }] } },
    });
  }
}
