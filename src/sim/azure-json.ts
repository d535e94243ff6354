/**
 * MIC's view of a cluster's Azure, seeded into a simulator: its service principal with the roles the
 * upstream docs require (Virtual Machine Contributor on the node resource group, Managed Identity
 * Operator on the identity groups), and the azure.json (plus the CA it names) that points MIC's Azure
 * clients at the simulator, as an operator would for a private cloud. Used by the sandbox and the tests.
 * @module
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { SimAdminClient } from './client.ts';
import type { AzureSimulator } from './simulator.ts';

export interface SimAzureJsonOptions {
  readonly dir: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** How azure.json names the CA file: absolute (default) or relative to azure.json. */
  readonly relativeCaFile?: boolean;
}

/** Returns the path of the azure.json written into `options.dir`. */
export function writeSimAzureJson(sim: Pick<AzureSimulator, 'tenantId' | 'armUrl' | 'entraUrl' | 'caPem'>, options: SimAzureJsonOptions): string {
  const caPath = path.join(options.dir, 'sim-ca.pem');
  writeFileSync(caPath, sim.caPem);
  const file = path.join(options.dir, 'azure.json');
  const config = {
    cloud: 'AzurePublicCloud',
    tenantId: sim.tenantId,
    subscriptionId: options.subscriptionId,
    resourceGroup: options.resourceGroup,
    location: 'westeurope',
    vmType: 'vmss',
    useManagedIdentityExtension: false,
    aadClientId: options.clientId,
    aadClientSecret: options.clientSecret,
    resourceManagerEndpoint: sim.armUrl,
    activeDirectoryEndpoint: sim.entraUrl,
    caFile: options.relativeCaFile === true ? 'sim-ca.pem' : caPath,
  };
  // It holds a client secret.
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  return file;
}

export interface MicPrincipal {
  readonly appId: string;
  readonly objectId: string;
  readonly secret: string;
}

/** Seeds MIC's service principal (a fresh secret) and its two roles. */
export async function seedMicPrincipal(
  admin: Pick<SimAdminClient, 'seedServicePrincipal' | 'seedRoleAssignment'>,
  options: { readonly displayName: string; readonly subscriptionId: string; readonly nodeGroup: string; readonly identityGroup: string },
): Promise<MicPrincipal> {
  const secret = `s-${randomUUID()}`;
  const principal = await admin.seedServicePrincipal({ displayName: options.displayName, secret });
  const groupScope = (group: string): string => `/subscriptions/${options.subscriptionId}/resourceGroups/${group}`;
  await admin.seedRoleAssignment({ scope: groupScope(options.nodeGroup), role: 'Virtual Machine Contributor', principalId: principal.objectId });
  await admin.seedRoleAssignment({ scope: groupScope(options.identityGroup), role: 'Managed Identity Operator', principalId: principal.objectId });
  return { appId: principal.appId, objectId: principal.objectId, secret };
}
