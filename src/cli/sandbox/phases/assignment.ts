/**
 * Phase "identity assigned": waits until MIC has put the example identity on the scale set and marked
 * the allowed pod's AzureAssignedIdentity Assigned; fails early when MIC exits.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readAzureAssignedIdentity } from '../../../api/index.ts';
import type { ManagedProcess } from '../../../devenv/process.ts';
import type { KubeTarget } from '../../../kube/access.ts';
import { rawRequest } from '../../../kube/raw-client.ts';
import { ALLOWED_POD, DEMO_NAMESPACE } from '../examples.ts';

const ASSIGN_TIMEOUT_MS = 90_000;

/** Resolves to the Assigned AzureAssignedIdentity's `<namespace>/<name>`. */
export async function waitForAssignment(kube: KubeTarget, mic: ManagedProcess, identityName: string, signal: AbortSignal): Promise<string> {
  const deadline = Date.now() + ASSIGN_TIMEOUT_MS;
  for (;;) {
    // AzureAssignedIdentities live in MIC's namespace (default), not the pod's (as upstream).
    const list = (await rawRequest(kube, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities' })) as { items: unknown[] };
    const assigned = list.items
      .map(readAzureAssignedIdentity)
      .find((aai) => aai.spec.podNamespace === DEMO_NAMESPACE && aai.spec.pod === ALLOWED_POD && aai.status?.status === 'Assigned');
    if (assigned !== undefined) return `${assigned.metadata.namespace ?? ''}/${assigned.metadata.name ?? ''}`;
    if (mic.exit() !== undefined) throw new Error(`MIC exited; last lines of ${mic.logPath}:\n${await mic.tail(20)}`);
    if (signal.aborted) throw new Error('interrupted');
    if (Date.now() > deadline) throw new Error(`MIC did not assign ${identityName} to ${DEMO_NAMESPACE}/${ALLOWED_POD} within ${ASSIGN_TIMEOUT_MS / 1000} s; last lines of ${mic.logPath}:\n${await mic.tail(20)}`);
    await sleep(200);
  }
}
