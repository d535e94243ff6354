/**
 * Federated identities (AzureIdentity type 3) in the adversarial suite's cluster: NMI's projected
 * service-account token (a TokenRequest token of NMI's service account, as the kubelet would project
 * it), Entra ID (the simulator) trusting the API server's issuer, and two user-assigned identities with
 * a federated credential for NMI's subject, each bound to one pod. MIC assigns them with no ARM call, so
 * only NMI stands between another pod and their tokens.
 * @module
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { FEDERATED_TOKEN_AUDIENCE } from '../../src/api/index.ts';
import { rawRequest as kubeRequest } from '../../src/kube/raw-client.ts';
import type { MicWorld } from '../support/mic-world.ts';
import type { AdvIdentity } from './adversarial-requests.ts';

const NMI_NAMESPACE = 'adv-nmi';
const NMI_SERVICE_ACCOUNT = 'pod-identity-nmi';
export const NMI_SUBJECT = `system:serviceaccount:${NMI_NAMESPACE}:${NMI_SERVICE_ACCOUNT}`;

/** Federated identities (namespace, short name, binding selector): F beside A on node 1, G beside Y on node 2. */
export const FEDERATED_LAYOUT = [
  { name: 'F', namespace: 'adv-a', selector: 'select-f' },
  { name: 'G', namespace: 'adv-y', selector: 'select-g' },
] as const;

/** Mints NMI's service-account token into a file under the world's directory; returns the path. */
export async function writeNmiTokenFile(world: MicWorld): Promise<string> {
  await world.namespace(NMI_NAMESPACE);
  await kubeRequest(world.kc, { method: 'POST', path: `/api/v1/namespaces/${NMI_NAMESPACE}/serviceaccounts`, body: { metadata: { name: NMI_SERVICE_ACCOUNT } } });
  const answer = (await kubeRequest(world.kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${NMI_NAMESPACE}/serviceaccounts/${NMI_SERVICE_ACCOUNT}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [FEDERATED_TOKEN_AUDIENCE], expirationSeconds: 3600 } },
  })) as { status: { token: string } };
  const file = path.join(world.dir, 'federated-token');
  writeFileSync(file, answer.status.token, { mode: 0o600 });
  return file;
}

/**
 * Lets Entra ID (the simulator) fetch the API server's discovery and keys, and creates the federated
 * identities of {@link FEDERATED_LAYOUT}: identity + credential for NMI's subject, type-3 AzureIdentity
 * and binding. The namespaces must exist.
 */
export async function seedFederatedIdentities(world: MicWorld): Promise<Record<string, AdvIdentity>> {
  await world.admin.setOptions({ oidcCaPems: [world.plane.caPem] });
  const identities: Record<string, AdvIdentity> = {};
  for (const layout of FEDERATED_LAYOUT) {
    const short = layout.name.toLowerCase();
    const seeded = await world.azureIdentity(`adv-identity-${short}`);
    await world.admin.seedFederatedCredential({ identityId: seeded.id, name: 'pod-identity-nmi', issuer: world.plane.issuerUrl, subject: NMI_SUBJECT });
    identities[layout.name] = { ...seeded, name: layout.name };
    await world.createIdentity(layout.namespace, `identity-${short}`, { type: 3, clientID: seeded.clientId, tenantID: world.sim.tenantId, resourceID: seeded.id, adEndpoint: world.sim.entraUrl });
    await world.createBinding(layout.namespace, `binding-${short}`, `identity-${short}`, layout.selector);
  }
  return identities;
}
