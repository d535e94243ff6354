/**
 * The sandbox's example manifests (examples/sandbox/*.yaml) and what the Azure simulator must hold for
 * them to work as written: the AzureIdentity's resource ID and client ID are real values the simulator
 * is seeded with, and the pods name the node the simulated scale set's one instance becomes.
 * @module
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../../devenv/binaries.ts';

export const EXAMPLES_DIR = path.join(repoRoot, 'examples/sandbox');
/** Applied in this order (the namespace first). */
export const EXAMPLE_FILES = ['namespace.yaml', 'identity.yaml', 'binding.yaml', 'pods.yaml'] as const;

export const DEMO_NAMESPACE = 'demo';
export const ALLOWED_POD = 'demo-allowed';
export const DENIED_POD = 'demo-denied';

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

export interface Examples {
  readonly identity: ExampleIdentity;
  /** spec.nodeName of every pod in pods.yaml. */
  readonly podNodes: readonly string[];
  readonly files: readonly string[];
}

const RESOURCE_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/([^/]+)$/i;

interface Doc {
  kind?: string;
  metadata?: { name?: string };
  spec?: { resourceID?: string; clientID?: string; nodeName?: string };
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
  const podNodes = (await docs(path.join(dir, 'pods.yaml'))).filter((doc) => doc.kind === 'Pod').map((doc) => doc.spec?.nodeName ?? '');
  return { identity: { name, resourceId, clientId, subscriptionId, resourceGroup }, podNodes, files };
}
