/**
 * NMI end to end in network namespaces (src/devenv/netns.ts) against a {@link MicWorld}: NMI runs as a
 * real process inside the node namespace with its real iptables rules, reaching the API server and the
 * node's simulated IMDS through in-namespace exposures of their root-namespace loopback listeners, and
 * unmodified clients (curl, @azure/identity, Python azure-identity) run inside pod namespaces against
 * the plain default endpoint `http://169.254.169.254`.
 * @module
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JWTVerifyGetKey } from 'jose';
import { expect } from 'vitest';
import { run } from '../../src/devenv/exec.ts';
import { CLIENTS_DIR, clientEnvironment, parseResultLine, verifiedClaims } from '../clients/harness.ts';
import type { ClientResult } from '../clients/node/report.ts';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { IMDS_IP, nodeCommand, waitForLogLine, type NetnsTopology, type PodNamespace } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { expectedChainRules, expectedGuardRules, jumpPositions, listingLines, type IptablesConfig } from '../../src/nmi/node/iptables/rules.ts';
import { nmiNodeArgs } from './component-command.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`../e2e/fixtures/${name}`, import.meta.url));
export const IMDS_RELAY = fixture('imds-relay.ts');
export const POD_APP = path.join(CLIENTS_DIR, 'node', 'pod-app.ts');
export const NMI_PORT = 2579;
/** /host/token stays on its own loopback port (the token listener is on every address). */
export const HOST_TOKEN_PORT = 2580;
export const HEALTH_PORT = 8085;
export const METRICS_PORT = 9095;
export const ARM_RESOURCE = 'https://management.azure.com/';

/** Polls `check` every `everyMs` until it holds; returns the elapsed milliseconds (bounded). */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<number> {
  const started = performance.now();
  for (let attempt = 0; attempt < 10_000; attempt++) {
    if (await check()) return Math.round(performance.now() - started);
    if (performance.now() - started > timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
}

export interface NodeNmiOptions {
  readonly node: string;
  readonly kubeconfig: string;
  /** Where pods' IMDS traffic is DNATed (an address of the node namespace). */
  readonly dnatIp: string;
  readonly caFile: string;
  readonly extraArgs?: readonly string[];
  /** Extra environment variables for NMI. */
  readonly env?: Readonly<Record<string, string>>;
}

/** The NMI command line for the node namespace (upstream flags plus ours). */
export function nodeNmiArgs(options: NodeNmiOptions): string[] {
  return [
    ...nmiNodeArgs(),
    `--kubeconfig=${options.kubeconfig}`,
    `--node=${options.node}`,
    `--ipt-dnat-address=${options.dnatIp}`,
    '--nmi-listen-address=0.0.0.0',
    `--nmi-port=${String(NMI_PORT)}`,
    `--host-token-port=${String(HOST_TOKEN_PORT)}`,
    `--metadata-ip=${IMDS_IP}`,
    '--metadata-port=80',
    '--ipt-update-interval-sec=2',
    `--http-probe-port=${String(HEALTH_PORT)}`,
    `--prometheus-port=${String(METRICS_PORT)}`,
    '--health-bind-address=127.0.0.1',
    '--metrics-bind-address=127.0.0.1',
    '--kubelet-config=/nonexistent/kubelet',
    '--log-format=json',
    ...(options.extraArgs ?? []),
  ];
}

/**
 * Starts NMI inside the node namespace with a clean environment (no proxies; the simulator's CA).
 * `ip netns exec` and `env` both exec, so the process's pid is NMI's own (SIGKILL reaches NMI).
 */
export function startNodeNmi(topo: NetnsTopology, options: NodeNmiOptions): Promise<ManagedProcess> {
  return topo.start(topo.node, 'nmi', 'env', ['-i', `PATH=${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, `NODE_EXTRA_CA_CERTS=${options.caFile}`, ...Object.entries(options.env ?? {}).map(([name, value]) => `${name}=${value}`), process.execPath, ...nodeNmiArgs(options)]);
}

/** `/healthz` of the NMI in the node namespace (`Active` once its rules are installed); '' when down. */
export async function nmiHealth(topo: NetnsTopology): Promise<string> {
  const result = await topo.exec(topo.node, 'curl', ['-s', '--noproxy', '*', '--max-time', '2', `http://127.0.0.1:${String(HEALTH_PORT)}/healthz`], { timeoutMs: 10_000 });
  return result.code === 0 ? result.stdout : '';
}

/** Waits until NMI says Active and its token listener answers; returns the milliseconds it took. */
export async function waitForNmiServing(topo: NetnsTopology, nmi: ManagedProcess, dnatIp: string, timeoutMs = 30_000): Promise<number> {
  return waitUntil(
    'NMI active and serving',
    async () => {
      if (nmi.exit() !== undefined) throw new Error(`NMI exited ${JSON.stringify(nmi.exit())}:\n${await nmi.tail()}`);
      if ((await nmiHealth(topo)) !== 'Active') return false;
      const probe = await topo.exec(topo.node, 'curl', ['-s', '-o', '/dev/null', '--noproxy', '*', '--max-time', '2', `http://${dnatIp}:${String(NMI_PORT)}/`], { timeoutMs: 10_000 });
      return probe.code === 0;
    },
    timeoutMs,
    100,
  );
}

/** Starts the IMDS relay on 169.254.169.254:80 in the node namespace, relaying to `target` there. */
export async function startImdsRelay(topo: NetnsTopology, target: string): Promise<ManagedProcess> {
  const [file, args] = nodeCommand(IMDS_RELAY, ['--listen', `${IMDS_IP}:80`, '--target', target]);
  const proc = await topo.start(topo.node, 'imds-relay', file, args);
  await waitForLogLine(proc, (line) => line.includes('"event":"listening"'));
  return proc;
}

/** Peer addresses of every connection the relay (the node's IMDS address) accepted, oldest first. */
export async function relayConnections(relay: ManagedProcess): Promise<string[]> {
  return (await readFile(relay.logPath, 'utf8'))
    .split('\n')
    .filter((line) => line.includes('"event":"connection"'))
    .map((line) => (JSON.parse(line) as { remoteAddress: string }).remoteAddress.replace(/^::ffff:/, ''));
}

export interface CurlResult {
  /** curl's exit code: 0 (an HTTP answer), 7 (could not connect), 28 (timed out), … */
  readonly exit: number;
  readonly status: number;
  readonly body: string;
  readonly stderr: string;
}

/** curl inside `ns` (no proxies); `input` goes to stdin (e.g. headers for `-H @-`). */
export async function curlIn(topo: NetnsTopology, ns: string, args: readonly string[], input?: string): Promise<CurlResult> {
  const result = await topo.exec(ns, 'curl', ['-s', '-S', '--noproxy', '*', '--connect-timeout', '2', '--max-time', '20', '-w', '\n%{http_code}', ...args], {
    env: clientEnvironment({}),
    timeoutMs: 30_000,
    ...(input === undefined ? {} : { input }),
  });
  const lines = result.stdout.split('\n');
  const status = Number(lines.pop() ?? '0');
  return { exit: result.code, status, body: lines.join('\n'), stderr: result.stderr };
}

/** The token request a script would make with curl, at the real IMDS address. */
export function imdsTokenUrl(query: Record<string, string>): string {
  return `http://${IMDS_IP}/metadata/identity/oauth2/token?${new URLSearchParams({ 'api-version': '2018-02-01', ...query }).toString()}`;
}

/** curl's token request from a pod, with `Metadata: true`. */
export function curlToken(topo: NetnsTopology, pod: PodNamespace, query: Record<string, string>, extra: readonly string[] = []): Promise<CurlResult> {
  return curlIn(topo, pod.name, ['-H', 'Metadata: true', ...extra, imdsTokenUrl(query)]);
}

/** A GET on the simulated ARM from inside a pod with the bearer token (header via stdin, not argv). */
export function curlArmGet(topo: NetnsTopology, pod: PodNamespace, url: string, caFile: string, token: string): Promise<CurlResult> {
  return curlIn(topo, pod.name, ['--cacert', caFile, '-H', '@-', url], `Authorization: Bearer ${token}\n`);
}

export interface PodAppResult {
  readonly ok: boolean;
  readonly token?: string;
  readonly errorName?: string;
  readonly message?: string;
  readonly arm?: { readonly ok: boolean; readonly id?: string; readonly name?: string; readonly errorName?: string; readonly message?: string; readonly statusCode?: number };
}

export interface PodAppScenario {
  readonly credential: 'managed-identity' | 'default';
  readonly clientId?: string;
  readonly scope: string;
  readonly arm: { readonly endpoint: string; readonly subscriptionId: string; readonly resourceGroup: string; readonly scaleSet: string };
}

/** Runs test/clients/node/pod-app.ts inside a pod namespace (its own process: SDK state is per process). */
export async function runPodApp(topo: NetnsTopology, pod: PodNamespace, scenario: PodAppScenario, env: Record<string, string>): Promise<PodAppResult> {
  const [file, args] = nodeCommand(POD_APP, [JSON.stringify(scenario)]);
  const result = await topo.exec(pod.name, file, args, { env: clientEnvironment(env), timeoutMs: 90_000 });
  if (result.code !== 0) throw new Error(`pod-app.ts exited ${String(result.code)}:\n${result.stderr}${result.stdout}`);
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as PodAppResult;
  } catch {
    throw new Error(`pod-app.ts: no result line.\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

/** test/clients/python/get_token.py inside a pod namespace with the venv's python, default endpoint. */
export async function runPythonInPod(topo: NetnsTopology, pod: PodNamespace, python: string, scenario: object): Promise<ClientResult> {
  const script = path.join(CLIENTS_DIR, 'python', 'get_token.py');
  const result = await topo.exec(pod.name, python, [script, JSON.stringify(scenario)], { env: clientEnvironment({}), timeoutMs: 90_000 });
  if (result.code !== 0) throw new Error(`get_token.py exited ${String(result.code)}:\n${result.stderr}${result.stdout}`);
  return parseResultLine(result.stdout, result.stderr, 'get_token.py');
}

/**
 * The node namespace's `aad-metadata` chain (undefined when absent), the jump positions in PREROUTING,
 * and, when the config names a guard chain, the guard's listing and its jump positions in INPUT and
 * FORWARD (filter table).
 */
export async function interceptionState(
  topo: NetnsTopology,
  config: IptablesConfig,
): Promise<{ chain: string | undefined; jumps: number[]; guard?: { chain: string | undefined; input: number[]; forward: number[] } }> {
  const list = (table: string, chain: string) => topo.exec(topo.node, 'iptables', ['-w', '5', '-t', table, '-S', chain], { timeoutMs: 10_000 });
  const chain = await list('nat', config.chain);
  const prerouting = await topo.execOk(topo.node, 'iptables', ['-w', '5', '-t', 'nat', '-S', 'PREROUTING'], { timeoutMs: 10_000 });
  const state = { chain: chain.code === 0 ? chain.stdout : undefined, jumps: jumpPositions(config, prerouting) };
  if (config.guardChain === undefined) return state;
  const guardChain = config.guardChain;
  const guard = await list('filter', guardChain);
  const positions = async (hook: string): Promise<number[]> => {
    const rules = listingLines((await list('filter', hook)).stdout).filter((line) => line.startsWith(`-A ${hook} `));
    return rules.flatMap((rule, index) => (rule === `-A ${hook} -j ${guardChain}` ? [index + 1] : []));
  };
  return { ...state, guard: { chain: guard.code === 0 ? guard.stdout : undefined, input: await positions('INPUT'), forward: await positions('FORWARD') } };
}

/** Whether exactly the expected chain is installed with the jump first in PREROUTING (and the guard, when configured, first in INPUT and FORWARD). */
export async function interceptionInstalled(topo: NetnsTopology, config: IptablesConfig): Promise<boolean> {
  const state = await interceptionState(topo, config);
  const redirect = state.chain === expectedChainRules(config).join('\n') + '\n' && state.jumps.join() === '1';
  if (config.guardChain === undefined) return redirect;
  const guardChain = config.guardChain;
  return redirect && state.guard?.chain === expectedGuardRules({ ...config, guardChain }).join('\n') + '\n' && state.guard.input.join() === '1' && state.guard.forward.join() === '1';
}

/** The `audit` fields of NMI's JSON log records (one per token decision; never the token). */
export async function nmiAudits(nmi: ManagedProcess): Promise<Record<string, unknown>[]> {
  // NMI writes its log through a buffer flushed every 200 ms (src/lib/logger.ts): let it land.
  await new Promise((resolve) => setTimeout(resolve, 500));
  return (await readFile(nmi.logPath, 'utf8'))
    .split('\n')
    .filter((line) => line.includes('"audit"'))
    .map((line) => (JSON.parse(line) as { audit: Record<string, unknown> }).audit);
}

/** A user-assigned identity as the tests name it. */
export interface TestIdentity {
  readonly id: string;
  readonly clientId: string;
  readonly principalId: string;
}

export const ARM_SCOPE = 'https://management.azure.com/.default';

/** curl's answer as JSON; a clear error (exit code, status, body) when it is not JSON. */
export function curlJson(result: CurlResult): Record<string, unknown> {
  try {
    return JSON.parse(result.body) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON (curl exit ${String(result.exit)}, HTTP ${String(result.status)}): ${result.body} ${result.stderr}`);
  }
}

/** Verifies `token` against the simulated Entra ID's keys; its claims must name `identity` and ARM. */
export async function expectArmTokenOf(token: string, keys: JWTVerifyGetKey, identity: TestIdentity, tenantId: string): Promise<void> {
  const claims = await verifiedClaims(token, keys);
  expect(claims['appid']).toBe(identity.clientId);
  expect(claims['oid']).toBe(identity.principalId);
  expect(String(claims['xms_mirid']).toLowerCase()).toBe(identity.id.toLowerCase());
  expect(String(claims['aud']).replace(/\/$/, '')).toBe('https://management.azure.com');
  expect(claims['tid']).toBe(tenantId);
}

/** A pod-app scenario asking for an ARM token and reading the world's scale set with it. */
export function armScenario(credential: PodAppScenario['credential'], arm: PodAppScenario['arm'], clientId?: string): PodAppScenario {
  return { credential, ...(clientId === undefined ? {} : { clientId }), scope: ARM_SCOPE, arm };
}

/** The Python venv of the client tests (scripts/setup-python-clients.sh, cached); fails saying why. */
export async function pythonClients(): Promise<string> {
  const setup = await run('bash', [path.join(repoRoot, 'scripts/setup-python-clients.sh')], { timeoutMs: 300_000 });
  if (setup.code !== 0) throw new Error(`scripts/setup-python-clients.sh failed (${String(setup.code)}):\n${setup.stderr}${setup.stdout}`);
  return setup.stdout.trim().split('\n').at(-1) ?? '';
}
