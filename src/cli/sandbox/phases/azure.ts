/**
 * Phase "Azure simulator": the simulator in this process, seeded the way an AKS cluster looks to MIC —
 * a node resource group with a scale set of one instance (the node), an identity resource group with
 * the example's user-assigned identity, and MIC's service principal with the roles upstream documents
 * (Virtual Machine Contributor on the node group, Managed Identity Operator on the identity group) —
 * plus the azure.json MIC reads, pointing at the simulator's ARM and Entra endpoints and CA. Beside
 * it, the federated example's identity with a federated identity credential trusting NMI's service
 * account on the sandbox API server as issuer; the simulator's Entra ID (in the example's tenant)
 * trusts the API server's CA when it fetches the issuer's keys, as Entra ID trusts AKS's OIDC issuer.
 * @module
 */
import path from 'node:path';
import { seedMicPrincipal, writeSimAzureJson } from '../../../sim/azure-json.ts';
import { SimAdminClient } from '../../../sim/client.ts';
import { startAzureSimulator, type AzureSimulator } from '../../../sim/simulator.ts';
import { NMI_SUBJECT, NODE_GROUP, SCALE_SET, type ExampleIdentity, type Examples } from '../examples.ts';

/** The Azure side of the federated example. */
export interface SandboxFederated {
  readonly resourceId: string;
  readonly clientId: string;
  readonly principalId: string;
  /** The federated identity credential: the API server's issuer URL and NMI's subject. */
  readonly issuer: string;
  readonly subject: string;
  readonly credentialName: string;
}

/** The service-account issuer the federated credential trusts. */
export interface SandboxIssuer {
  readonly issuerUrl: string;
  /** CA of the issuer's TLS certificate (the test API server's own). */
  readonly caPem: string;
}

const FEDERATED_CREDENTIAL_NAME = 'pod-identity-nmi';

export interface SandboxAzure {
  readonly sim: AzureSimulator;
  readonly nodeName: string;
  readonly providerId: string;
  readonly identity: ExampleIdentity & { readonly principalId: string };
  readonly federated: SandboxFederated;
  readonly micClientId: string;
  readonly azureJsonPath: string;
  readonly caFile: string;
}

/** Starts and seeds the simulator; stops it again when seeding fails. */
export async function startSandboxAzure(dir: string, examples: Pick<Examples, 'identity' | 'federated'>, issuer: SandboxIssuer): Promise<SandboxAzure> {
  const { identity, federated } = examples;
  // Short identity operations: the demo should not wait 40 s for a scale set update.
  const sim = await startAzureSimulator({ lroDurationMs: { vm: 300, vmss: 500 }, tenantId: federated.tenantId, oidcCaPems: [issuer.caPem] });
  try {
    const admin = new SimAdminClient(sim.adminUrl);
    const subscriptionId = identity.subscriptionId;
    await admin.seedResourceGroup({ subscriptionId, resourceGroup: NODE_GROUP });
    if (identity.resourceGroup.toLowerCase() !== NODE_GROUP.toLowerCase()) {
      await admin.seedResourceGroup({ subscriptionId, resourceGroup: identity.resourceGroup });
    }
    const scaleSet = await admin.seedVmss({ subscriptionId, resourceGroup: NODE_GROUP, name: SCALE_SET, instances: 1, location: 'westeurope' });
    const instance = scaleSet.instances[0];
    if (instance === undefined) throw new Error(`the simulator created scale set ${SCALE_SET} without an instance`);
    const seeded = await admin.seedIdentity({ subscriptionId, resourceGroup: identity.resourceGroup, name: identity.name, clientId: identity.clientId, location: 'westeurope' });
    if (federated.resourceGroup.toLowerCase() !== identity.resourceGroup.toLowerCase() && federated.resourceGroup.toLowerCase() !== NODE_GROUP.toLowerCase()) {
      await admin.seedResourceGroup({ subscriptionId: federated.subscriptionId, resourceGroup: federated.resourceGroup });
    }
    const federatedSeeded = await admin.seedIdentity({ subscriptionId: federated.subscriptionId, resourceGroup: federated.resourceGroup, name: federated.azureName, clientId: federated.clientId, location: 'westeurope' });
    await admin.seedFederatedCredential({ identityId: federatedSeeded.id, name: FEDERATED_CREDENTIAL_NAME, issuer: issuer.issuerUrl, subject: NMI_SUBJECT });

    const principal = await seedMicPrincipal(admin, { displayName: 'pod-identity-sandbox-mic', subscriptionId, nodeGroup: NODE_GROUP, identityGroup: identity.resourceGroup });
    const azureJsonPath = writeSimAzureJson(sim, { dir, subscriptionId, resourceGroup: NODE_GROUP, clientId: principal.appId, clientSecret: principal.secret });
    const caFile = path.join(dir, 'sim-ca.pem');

    return {
      sim,
      nodeName: instance.computerName,
      providerId: `azure:///subscriptions/${subscriptionId}/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet.name}/virtualMachines/${instance.instanceId}`,
      identity: { ...identity, resourceId: seeded.id, principalId: seeded.principalId },
      federated: {
        resourceId: federatedSeeded.id,
        clientId: federatedSeeded.clientId,
        principalId: federatedSeeded.principalId,
        issuer: issuer.issuerUrl,
        subject: NMI_SUBJECT,
        credentialName: FEDERATED_CREDENTIAL_NAME,
      },
      micClientId: principal.appId,
      azureJsonPath,
      caFile,
    };
  } catch (error) {
    await sim.stop();
    throw error;
  }
}

/** Why the examples' pods cannot run on the simulated node (they name another one), or undefined. */
export function examplesNodeMismatch(examples: Examples, nodeName: string): string | undefined {
  const wrongNode = examples.podNodes.find((name) => name !== nodeName);
  return wrongNode === undefined ? undefined : `examples/sandbox/pods.yaml names node ${wrongNode}, the simulated node is ${nodeName}`;
}
