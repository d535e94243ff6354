/**
 * The federated example (examples/sandbox/federated.yaml) on the real-node sandbox: the Azure side
 * (the identity and its federated identity credential trusting the chart's NMI service account on the
 * sandbox API server's issuer; the simulated Entra ID trusting that server's CA when it fetches the
 * issuer's keys, as Entra ID trusts AKS's OIDC issuer), the chart values NMI needs to reach the
 * simulated Entra ID, and the example's objects with its pod on the sandbox's node and image.
 * @module
 */
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { RELEASE, RELEASE_NAMESPACE, SIM_CA_FILE, type NodeWorld } from '../../devenv/node/world.ts';
import type { ExampleFederatedIdentity } from './examples.ts';

const CREDENTIAL_NAME = 'pod-identity-nmi';

/** What the federated identity credential trusts. */
export interface RealNodeFederation {
  readonly issuer: string;
  readonly subject: string;
  readonly resourceId: string;
}

/** The chart values NMI needs for the example: the simulated Entra ID's address and CA on the node. */
export function federatedChartValues(world: Pick<NodeWorld, 'entraUrlInCluster'>): Record<string, string> {
  return { 'nmi.extraCAFile': SIM_CA_FILE, 'nmi.authorityHost': world.entraUrlInCluster };
}

/** The identity in the simulator; the simulated Entra ID trusts the API server's CA for its issuer. Before `helm install`. */
export async function seedFederatedIdentity(world: Pick<NodeWorld, 'admin' | 'cluster'>, federated: ExampleFederatedIdentity): Promise<string> {
  await world.admin.setOptions({ oidcCaPems: [world.cluster.plane.caPem] });
  await world.admin.seedResourceGroup({ subscriptionId: federated.subscriptionId, resourceGroup: federated.resourceGroup });
  const seeded = await world.admin.seedIdentity({ subscriptionId: federated.subscriptionId, resourceGroup: federated.resourceGroup, name: federated.azureName, clientId: federated.clientId, location: 'westeurope' });
  return seeded.id;
}

/** The federated identity credential for the service account the chart gave NMI. After `helm install`. */
export async function trustChartNmi(world: Pick<NodeWorld, 'admin' | 'cluster' | 'kubectl'>, resourceId: string): Promise<RealNodeFederation> {
  const serviceAccount = (await world.kubectl(['get', 'daemonset', '-n', RELEASE_NAMESPACE, `${RELEASE}-nmi`, '-o', 'jsonpath={.spec.template.spec.serviceAccountName}'])).trim();
  if (serviceAccount === '') throw new Error(`daemonset ${RELEASE_NAMESPACE}/${RELEASE}-nmi names no service account`);
  const federation = { issuer: world.cluster.plane.issuerUrl, subject: `system:serviceaccount:${RELEASE_NAMESPACE}:${serviceAccount}`, resourceId };
  await world.admin.seedFederatedCredential({ identityId: resourceId, name: CREDENTIAL_NAME, issuer: federation.issuer, subject: federation.subject });
  return federation;
}

interface ManifestDoc {
  readonly kind?: string;
  readonly spec?: Record<string, unknown>;
}

/** federated.yaml's objects as a kubectl List, its pod running `image` on `node` (the example names a public image). */
export async function federatedManifests(file: string, image: string, node: string): Promise<string> {
  const docs = YAML.parseAllDocuments(await readFile(file, 'utf8')).map((doc) => doc.toJS() as ManifestDoc);
  const items = docs.map((doc) => {
    if (doc.kind !== 'Pod') return doc;
    const containers = (doc.spec?.['containers'] as Record<string, unknown>[] | undefined) ?? [];
    return {
      ...doc,
      spec: { ...doc.spec, nodeName: node, terminationGracePeriodSeconds: 1, containers: containers.map((container) => ({ ...container, image, imagePullPolicy: 'Never' })) },
    };
  });
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}
