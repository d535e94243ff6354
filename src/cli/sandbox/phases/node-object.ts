/**
 * Phase "Node": the Node object of a simulated VM or scale set instance, with the providerID MIC
 * resolves to it (there is no kubelet to register it). Shared with the integration tests' MicWorld.
 * @module
 */
import type { KubeTarget } from '../../../kube/access.ts';
import { rawRequest } from '../../../kube/raw-client.ts';

/** Creates Node `name` (a Linux node) whose `spec.providerID` is `providerID`. */
export async function registerNode(kube: KubeTarget, name: string, providerID: string): Promise<void> {
  await rawRequest(kube, { method: 'POST', path: '/api/v1/nodes', body: { metadata: { name, labels: { 'kubernetes.io/os': 'linux' } }, spec: { providerID } } });
}
