/**
 * The real azure-cli (from PyPI, scripts/setup-azure-cli.sh) run inside pod network namespaces against
 * the Azure simulator: a throwaway `AZURE_CONFIG_DIR` per use, the simulator's CA trusted through
 * `REQUESTS_CA_BUNDLE` (what az documents for private clouds), no telemetry, and a timeout on every
 * invocation.
 * @module
 */
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clientEnvironment } from '../clients/harness.ts';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { run } from '../../src/devenv/exec.ts';
import type { NetnsTopology, PodNamespace } from '../../src/devenv/netns.ts';

/** Each az invocation's bound. */
export const AZ_TIMEOUT_MS = 60_000;

export const AZURE_CLI_REQUIREMENTS = path.join(repoRoot, 'test/clients/azure-cli/requirements.txt');

/** The azure-cli version test/clients/azure-cli/requirements.txt pins (what the script installs). */
export function pinnedAzureCliVersion(): string {
  const version = /^azure-cli==(\S+)$/m.exec(readFileSync(AZURE_CLI_REQUIREMENTS, 'utf8'))?.[1];
  if (version === undefined) throw new Error(`${AZURE_CLI_REQUIREMENTS}: no azure-cli==<version> line`);
  return version;
}

/** The pinned azure-cli's `az` (installs it once into the cache; fails with the script's output). */
export async function setupAzureCli(): Promise<string> {
  const script = path.join(repoRoot, 'scripts/setup-azure-cli.sh');
  const setup = await run('bash', [script], { timeoutMs: 600_000 });
  if (setup.code !== 0) throw new Error(`scripts/setup-azure-cli.sh failed (${String(setup.code)}); run it to see why:\n${setup.stderr}${setup.stdout}`);
  const az = setup.stdout.trim().split('\n').at(-1) ?? '';
  if (!az.endsWith('/az')) throw new Error(`scripts/setup-azure-cli.sh printed no az path:\n${setup.stdout}`);
  return az;
}

export interface SimCloud {
  /** The name az knows the cloud by. */
  readonly name: string;
  /** ARM's base URL as the pod reaches it. */
  readonly resourceManager: string;
  /** Entra ID's base URL as the pod would reach it (az requires one; a managed-identity login never calls it). */
  readonly activeDirectory: string;
  /** The ARM audience az asks tokens for (`resource=` on the IMDS request). */
  readonly audience: string;
}

/**
 * `az cloud register` for a private cloud whose endpoints are the simulator's. Endpoint discovery
 * (`<arm>/metadata/endpoints`) is skipped: every endpoint az requires is given.
 */
export function cloudRegisterArgs(cloud: SimCloud): string[] {
  return [
    'cloud', 'register',
    '--name', cloud.name,
    '--endpoint-resource-manager', cloud.resourceManager,
    '--endpoint-active-directory', cloud.activeDirectory,
    '--endpoint-active-directory-resource-id', cloud.audience,
    '--endpoint-management', cloud.audience,
    '--skip-endpoint-discovery',
  ];
}

/** az's output for an error message, any JWT in it replaced (tokens never in logs). */
export function redactTokens(text: string): string {
  return text.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '<jwt redacted>');
}

export interface AzResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** An az configuration directory of its own, in a pod namespace. */
export interface AzSession {
  readonly configDir: string;
  /** Runs `az <args>` inside the pod (JSON output); never rejects on a non-zero exit. */
  az(args: readonly string[]): Promise<AzResult>;
  /** Like {@link az} but throws with the command and az's output on a non-zero exit; returns parsed JSON (null for no output). */
  azJson(args: readonly string[]): Promise<unknown>;
  /** Removes the configuration directory. */
  close(): Promise<void>;
}

/**
 * A new configuration directory for az in `pod`; `copyOf`: start from a copy of another session's
 * (its registered clouds and az's command index, which az otherwise spends ~10 s rebuilding).
 */
export async function azSession(topo: NetnsTopology, pod: PodNamespace, az: string, caFile: string, copyOf?: AzSession): Promise<AzSession> {
  const configDir = await mkdtemp(path.join(tmpdir(), 'pod-identity-az-'));
  if (copyOf !== undefined) await cp(copyOf.configDir, configDir, { recursive: true });
  const env = clientEnvironment({
    AZURE_CONFIG_DIR: configDir,
    REQUESTS_CA_BUNDLE: caFile,
    AZURE_CORE_COLLECT_TELEMETRY: 'no',
    AZURE_CORE_OUTPUT: 'json',
    AZURE_CORE_NO_COLOR: 'true',
    AZURE_CORE_SURVEY_MESSAGE: 'no',
  });
  const invoke = async (args: readonly string[]): Promise<AzResult> => {
    const started = performance.now();
    const result = await topo.exec(pod.name, az, args, { env, timeoutMs: AZ_TIMEOUT_MS });
    return { ...result, ms: Math.round(performance.now() - started) };
  };
  return {
    configDir,
    az: invoke,
    async azJson(args) {
      const result = await invoke(args);
      if (result.code !== 0) throw new Error(`az ${args.join(' ')} exited ${String(result.code)} in ${pod.name}:\n${redactTokens(result.stderr + result.stdout)}`);
      if (result.stdout.trim() === '') return null; // commands such as `az cloud set` print nothing
      try {
        return JSON.parse(result.stdout) as unknown;
      } catch {
        throw new Error(`az ${args.join(' ')}: not JSON:\n${redactTokens(`${result.stdout}\n${result.stderr}`)}`);
      }
    },
    close: () => rm(configDir, { recursive: true, force: true }),
  };
}
