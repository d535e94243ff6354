/**
 * Phase "identity assigned": waits until MIC has put the example identity on the scale set and marked
 * the allowed pod's AzureAssignedIdentity Assigned, and the federated pod's too (MIC assigns a
 * federated identity without any ARM call); fails early when MIC exits.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readAzureAssignedIdentity } from '../../../api/index.ts';
import type { ManagedProcess } from '../../../devenv/process.ts';
import type { KubeTarget } from '../../../kube/access.ts';
import { rawRequest } from '../../../kube/raw-client.ts';
import { ALLOWED_POD, DEMO_NAMESPACE, FEDERATED_POD } from '../examples.ts';

const ASSIGN_TIMEOUT_MS = 90_000;

/** The Assigned AzureAssignedIdentities' `<namespace>/<name>`. */
export interface Assignments {
  readonly allowed: string;
  readonly federated: string;
}

/** Resolves once both pods' AzureAssignedIdentities are Assigned. */
export async function waitForAssignment(kube: KubeTarget, mic: ManagedProcess, identityName: string, signal: AbortSignal): Promise<Assignments> {
  const deadline = Date.now() + ASSIGN_TIMEOUT_MS;
  for (;;) {
    // AzureAssignedIdentities live in MIC's namespace (default), not the pod's (as upstream).
    const list = (await rawRequest(kube, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities' })) as { items: unknown[] };
    const assigned = list.items.map(readAzureAssignedIdentity).filter((aai) => aai.spec.podNamespace === DEMO_NAMESPACE && aai.status?.status === 'Assigned');
    const nameOf = (pod: string): string | undefined => {
      const found = assigned.find((aai) => aai.spec.pod === pod);
      return found === undefined ? undefined : `${found.metadata.namespace ?? ''}/${found.metadata.name ?? ''}`;
    };
    const allowed = nameOf(ALLOWED_POD);
    const federated = nameOf(FEDERATED_POD);
    if (allowed !== undefined && federated !== undefined) return { allowed, federated };
    if (mic.exit() !== undefined) throw new Error(`MIC exited; last lines of ${mic.logPath}:\n${await mic.tail(20)}`);
    if (signal.aborted) throw new Error('interrupted');
    if (Date.now() > deadline) {
      const missing = [allowed === undefined ? `${identityName} to ${DEMO_NAMESPACE}/${ALLOWED_POD}` : undefined, federated === undefined ? `the federated identity to ${DEMO_NAMESPACE}/${FEDERATED_POD}` : undefined].filter((text) => text !== undefined);
      throw new Error(`MIC did not assign ${missing.join(' nor ')} within ${ASSIGN_TIMEOUT_MS / 1000} s; last lines of ${mic.logPath}:\n${await mic.tail(20)}`);
    }
    await sleep(200);
  }
}
