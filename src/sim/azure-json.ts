/**
 * Writes an azure.json (plus the CA it names) that points MIC's Azure clients at a simulator, as an
 * operator would for a private cloud: service-principal credentials, the simulator's ARM and Entra
 * endpoints, and its CA.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AzureSimulator } from '../../src/sim/simulator.ts';

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
