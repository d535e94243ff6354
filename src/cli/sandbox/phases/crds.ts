/**
 * Phase "CRDs": the project's CustomResourceDefinitions (deploy/crds.yaml) applied, Established and
 * served. Shared with the integration tests' MicWorld (test/support/mic-world.ts).
 * @module
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../../../devenv/binaries.ts';
import type { ControlPlane } from '../../../devenv/control-plane.ts';
import { installCrds } from '../../../devenv/crds.ts';
import type { KubeTarget } from '../../../kube/access.ts';
import { rawRequest } from '../../../kube/raw-client.ts';

export const CRDS_FILE = path.join(repoRoot, 'deploy/crds.yaml');

/** Applies deploy/crds.yaml and waits until the API server serves it; resolves to the CRDs' names. */
export async function installProjectCrds(plane: Pick<ControlPlane, 'kubectl'>, kube: KubeTarget): Promise<string[]> {
  const crds = await installCrds((args, options) => plane.kubectl(args, options), CRDS_FILE);
  await waitUntilCrdsServe(kube);
  return crds;
}

/** Until listing AzureAssignedIdentities works (100 ms apart, about 10 s at most). */
export async function waitUntilCrdsServe(kube: KubeTarget): Promise<void> {
  // Established CRDs can still answer 429 "storage is (re)initializing" for a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      await rawRequest(kube, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities' });
      return;
    } catch (error) {
      if (attempt > 100) throw error;
      await sleep(100);
    }
  }
}
