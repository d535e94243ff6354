/**
 * The archived project's own MIC (aad-pod-identity, the tag of scripts/upstream-aad-pod-identity-tag)
 * as a real process in a {@link MicWorld}, pointed at the simulator as a private cloud, with no shim:
 * `cloud: AzureStackCloud` in its azure.json, `AZURE_ENVIRONMENT_FILEPATH` naming an environment file in
 * go-autorest's format whose endpoints are the simulator's (trailing slash, as go-autorest joins them),
 * `SSL_CERT_FILE` the simulator's CA, and the flags upstream's chart passes.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { UpstreamBinaries } from '../../src/devenv/upstream-binaries.ts';
import { freePorts } from '../../src/devenv/ports.ts';
import { micProcess, type MicProcess, type MicWorld } from './mic-world.ts';

export interface UpstreamMicOptions {
  /** Leader-election instance, and the name of its files in the world's directory. */
  readonly name: string;
  /** azure.json `vmType`: `vmss` or `standard` (upstream reads node kinds from providerIDs either way). */
  readonly vmType: 'vmss' | 'standard';
  /** Its Endpoints lock; default upstream's `aad-pod-identity-mic`. */
  readonly leaderElectionName?: string;
  readonly extraArgs?: readonly string[];
}

/** The go-autorest `azure.Environment` JSON of a private cloud served by the simulator. */
export function simEnvironment(sim: { armUrl: string; entraUrl: string }): Record<string, unknown> {
  const slash = (url: string): string => `${url.replace(/\/+$/, '')}/`;
  return {
    name: 'AzureStackCloud',
    resourceManagerEndpoint: slash(sim.armUrl),
    activeDirectoryEndpoint: slash(sim.entraUrl),
    tokenAudience: slash(sim.armUrl),
    serviceManagementEndpoint: slash(sim.armUrl),
    resourceIdentifiers: {},
  };
}

/** Upstream's azure.json from the world's (the same principal, tenant and groups), for a private cloud. */
export function upstreamAzureJson(world: Pick<MicWorld, 'azureJsonPath'>, vmType: UpstreamMicOptions['vmType']): Record<string, unknown> {
  const ours = JSON.parse(readFileSync(world.azureJsonPath, 'utf8')) as Record<string, unknown>;
  const keep = ['tenantId', 'subscriptionId', 'resourceGroup', 'location', 'aadClientId', 'aadClientSecret'];
  return { ...Object.fromEntries(keep.map((key) => [key, ours[key]])), cloud: 'AzureStackCloud', vmType, useManagedIdentityExtension: false };
}

/** Starts upstream's MIC; stop it with the returned handle (MicWorld.stop does not know it). */
export async function startUpstreamMic(world: MicWorld, binaries: UpstreamBinaries, options: UpstreamMicOptions): Promise<MicProcess> {
  const [healthPort, metricsPort] = (await freePorts(2)) as [number, number];
  const azureJson = path.join(world.dir, `upstream-${options.name}-azure.json`);
  // It holds the principal's secret.
  writeFileSync(azureJson, JSON.stringify(upstreamAzureJson(world, options.vmType)), { mode: 0o600 });
  const environment = path.join(world.dir, `upstream-${options.name}-environment.json`);
  writeFileSync(environment, JSON.stringify(simEnvironment(world.sim)));
  const caFile = path.join(world.dir, `upstream-${options.name}-ca.pem`);
  writeFileSync(caFile, world.sim.caPem);

  const child = spawn(
    binaries.mic,
    [
      `--kubeconfig=${world.plane.kubeconfigPath}`,
      `--cloudconfig=${azureJson}`,
      `--leader-election-instance=${options.name}`,
      '--leader-election-namespace=kube-system',
      ...(options.leaderElectionName === undefined ? [] : [`--leader-election-name=${options.leaderElectionName}`]),
      `--http-probe-port=${healthPort}`,
      `--prometheus-port=${metricsPort}`,
      ...(options.extraArgs ?? []),
    ],
    {
      env: { PATH: process.env['PATH'] ?? '', MIC_POD_NAMESPACE: 'kube-system', SSL_CERT_FILE: caFile, AZURE_ENVIRONMENT_FILEPATH: environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return micProcess(child, options.name, healthPort, metricsPort);
}
