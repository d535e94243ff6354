/**
 * The sandbox's example manifests (examples/sandbox/*.yaml) and what the Azure simulator must hold for
 * them to work as written: the AzureIdentities' resource IDs, client IDs (and the federated one's
 * tenant) are real values the simulator is seeded with, and the pods name the node the simulated
 * scale set's one instance becomes.
 * @module
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../../devenv/binaries.ts';

export const EXAMPLES_DIR = path.join(repoRoot, 'examples/sandbox');
/** Applied in this order (the namespace first). */
export const EXAMPLE_FILES = ['namespace.yaml', 'identity.yaml', 'binding.yaml', 'pods.yaml'] as const;

/** The federated identity (type 3) with its binding and pod; applied after {@link EXAMPLE_FILES}. */
export const FEDERATED_FILE = 'federated.yaml';

export const DEMO_NAMESPACE = 'demo';
export const ALLOWED_POD = 'demo-allowed';
export const DENIED_POD = 'demo-denied';
export const FEDERATED_POD = 'demo-federated';

/** The service account whose token NMI presents for federated identities (the chart's NMI account in kube-system). */
export const NMI_SERVICE_ACCOUNT = { namespace: 'kube-system', name: 'pod-identity-nmi' } as const;
/** The subject of that account's tokens: what the federated identity credential trusts. */
export const NMI_SUBJECT = `system:serviceaccount:${NMI_SERVICE_ACCOUNT.namespace}:${NMI_SERVICE_ACCOUNT.name}`;

/** The simulated node: a VMSS with one instance in the node resource group (an AKS-style layout). */
export const NODE_GROUP = 'MC_sandbox_sandbox_westeurope';
export const SCALE_SET = 'aks-sandbox-12345678-vmss';

export interface ExampleIdentity {
  readonly name: string;
  readonly resourceId: string;
  readonly clientId: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
}

/** The type-3 AzureIdentity of federated.yaml: `name` is the AzureIdentity's, `azureName` the Azure identity's. */
export interface ExampleFederatedIdentity extends ExampleIdentity {
  readonly azureName: string;
  readonly tenantId: string;
}

export interface Examples {
  readonly identity: ExampleIdentity;
  readonly federated: ExampleFederatedIdentity;
  /** spec.nodeName of every pod in pods.yaml and federated.yaml. */
  readonly podNodes: readonly string[];
  /** The files every tier applies (not federated.yaml). */
  readonly files: readonly string[];
  readonly federatedFile: string;
}

const RESOURCE_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/([^/]+)$/i;

interface Doc {
  kind?: string;
  metadata?: { name?: string };
  spec?: { type?: number; resourceID?: string; clientID?: string; tenantID?: string; nodeName?: string };
}

async function docs(file: string): Promise<Doc[]> {
  const text = await readFile(file, 'utf8');
  return YAML.parseAllDocuments(text).map((doc) => doc.toJS() as Doc);
}

/** Reads the examples and checks they fit the sandbox (one user-assigned identity, pods on one node). */
export async function readExamples(dir = EXAMPLES_DIR): Promise<Examples> {
  const files = EXAMPLE_FILES.map((name) => path.join(dir, name));
  const identityDoc = (await docs(path.join(dir, 'identity.yaml'))).find((doc) => doc.kind === 'AzureIdentity');
  const resourceId = identityDoc?.spec?.resourceID ?? '';
  const clientId = identityDoc?.spec?.clientID ?? '';
  const match = RESOURCE_ID.exec(resourceId);
  if (identityDoc === undefined || match === null || clientId === '') {
    throw new Error(`${path.join(dir, 'identity.yaml')}: expected an AzureIdentity with a user-assigned identity's resourceID and its clientID`);
  }
  const [, subscriptionId = '', resourceGroup = '', name = ''] = match;
  const federatedFile = path.join(dir, FEDERATED_FILE);
  const federatedDocs = await docs(federatedFile);
  const federated = readFederatedIdentity(federatedFile, federatedDocs);
  const pods = [...(await docs(path.join(dir, 'pods.yaml'))), ...federatedDocs].filter((doc) => doc.kind === 'Pod');
  const podNodes = pods.map((doc) => doc.spec?.nodeName ?? '');
  return { identity: { name, resourceId, clientId, subscriptionId, resourceGroup }, federated, podNodes, files, federatedFile };
}

function readFederatedIdentity(file: string, fileDocs: readonly Doc[]): ExampleFederatedIdentity {
  const doc = fileDocs.find((candidate) => candidate.kind === 'AzureIdentity');
  const resourceId = doc?.spec?.resourceID ?? '';
  const match = RESOURCE_ID.exec(resourceId);
  const clientId = doc?.spec?.clientID ?? '';
  const tenantId = doc?.spec?.tenantID ?? '';
  if (doc?.spec?.type !== 3 || match === null || clientId === '' || tenantId === '') {
    throw new Error(`${file}: expected a federated AzureIdentity (type 3) with a user-assigned identity's resourceID, its clientID and tenantID`);
  }
  const [, subscriptionId = '', resourceGroup = '', azureName = ''] = match;
  return { name: doc.metadata?.name ?? '', azureName, resourceId, clientId, tenantId, subscriptionId, resourceGroup };
}
