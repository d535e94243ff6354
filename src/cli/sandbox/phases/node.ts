/**
 * Phase "namespaces + NMI" / "NMI (rootless)": the sandbox's node — NMI plus the three pods' network
 * identities (allowed, denied, federated) — in one of two forms. NMI presents the sandbox's
 * federated token file to the simulator's Entra ID (`--authority-host`) for the federated identity.
 *
 * - netns (root): a node network namespace and two pod namespaces joined to it by veth pairs
 *   (src/devenv/netns.ts: nothing is added to the root namespace). Inside the node namespace the API
 *   server is reachable at its usual 127.0.0.1:port and the node's simulated IMDS at
 *   169.254.169.254:80 (unix-socket forwarders); NMI runs there with its real iptables rules, so a
 *   plain `curl http://169.254.169.254/...` from a pod namespace is intercepted as on a real node.
 * - rootless: NMI on 127.0.0.1 with `--manage-iptables=false`, talking to the simulated IMDS
 *   directly; pods get 127.x addresses and the demo's requests are bound to them, so NMI tells pods
 *   apart by source address as it does on a node.
 * @module
 */
import { nodeHttp } from '../../../lib/node-http.ts';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../../devenv/exec.ts';
import { assertNetnsPrerequisites, createTopology, IMDS_IP, type NetnsTopology } from '../../../devenv/netns.ts';
import { freePorts } from '../../../devenv/ports.ts';
import { startProcess, type ManagedProcess } from '../../../devenv/process.ts';
import { requestText, type TextResponse } from '../../../lib/http-request.ts';
import type { AzureSimulator } from '../../../sim/simulator.ts';

export type NodeMode = 'netns' | 'rootless';

export interface SandboxPod {
  readonly ip: string;
  /** The pod's network namespace (netns mode). */
  readonly netns?: string;
}

/** NMI's answer to a token request. */
export type TokenAnswer = Pick<TextResponse, 'status' | 'body'>;

export interface SandboxNode {
  readonly mode: NodeMode;
  /** The allowed, the denied and the federated pod. */
  readonly pods: readonly [SandboxPod, SandboxPod, SandboxPod];
  readonly nmi: ManagedProcess;
  /** The node namespace (netns mode). */
  readonly nodeNetns?: string;
  /** Namespaces created (netns mode), for the summary and the checks of tests. */
  readonly namespaces: readonly string[];
  /** Where NMI intercepts: `169.254.169.254:80 → <gateway>:2579` or `127.0.0.1:<port>`. */
  readonly interception: string;
  /** Dir of the forwarders' logs and sockets (netns mode). */
  readonly topologyDir?: string;
  /** The token request a pod makes (curl in its namespace, or an HTTP request from its 127.x address). */
  requestToken(pod: SandboxPod, resource: string): Promise<TokenAnswer>;
  /** The command a user types to make that request. */
  tokenCommand(pod: SandboxPod, resource: string): string;
  /** Stops NMI, the forwarders and the IMDS listener; deletes the namespaces. Idempotent. */
  stop(): Promise<void>;
}

export interface NodeOptions {
  readonly mode: NodeMode;
  readonly dir: string;
  readonly nodeName: string;
  readonly sim: AzureSimulator;
  readonly kubeconfigPath: string;
  /** `https://127.0.0.1:<port>` */
  readonly apiServer: string;
  readonly caFile: string;
  /** NMI's `--federated-token-file`. */
  readonly federatedTokenFile: string;
  readonly signal: AbortSignal;
}

const NMI_PORT = 2579;
const HOST_TOKEN_PORT = 2580;
const HEALTH_PORT = 8085;
const METRICS_PORT = 9095;
const READY_TIMEOUT_MS = 60_000;
const PATH = process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** src/nmi/main.ts from sources, dist/src/nmi/main.js when compiled. */
const NMI_ENTRY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../../nmi/main.ts' : '../../../nmi/main.js', import.meta.url));

function tokenQuery(resource: string): string {
  // Unencoded, as people type it (the resource is a URL without & or spaces).
  return `api-version=2018-02-01&resource=${resource}`;
}

/** Flags both forms share (upstream flags plus ours); quick retries so a refusal comes in seconds. */
function commonNmiArgs(options: NodeOptions): string[] {
  return [
    NMI_ENTRY,
    `--kubeconfig=${options.kubeconfigPath}`,
    `--node=${options.nodeName}`,
    '--health-bind-address=127.0.0.1',
    '--metrics-bind-address=127.0.0.1',
    '--kubelet-config=/nonexistent/kubelet',
    '--retry-attempts-for-created=2',
    '--retry-attempts-for-assigned=2',
    '--find-identity-retry-interval=1',
    `--federated-token-file=${options.federatedTokenFile}`,
    // Federated identities (type 3) without adEndpoint: the simulator's Entra ID.
    `--authority-host=${options.sim.entraUrl}`,
    '--log-format=json',
  ];
}

async function waitUntil(what: string, nmi: ManagedProcess, signal: AbortSignal, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (nmi.exit() !== undefined) throw new Error(`NMI exited (${JSON.stringify(nmi.exit())}) before ${what}; last lines of ${nmi.logPath}:\n${await nmi.tail(20)}`);
    if (await check().catch(() => false)) return;
    if (signal.aborted) throw new Error(`interrupted while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${READY_TIMEOUT_MS / 1000} s waiting for ${what}; last lines of ${nmi.logPath}:\n${await nmi.tail(20)}`);
    await sleep(200);
  }
}

/** Runs everything cleanup-worthy in reverse order, collecting failures. */
async function unwind(steps: (() => Promise<void>)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps.reverse()) await step().catch((error: unknown) => errors.push(error));
  if (errors.length > 0) throw new AggregateError(errors, 'stopping the node failed');
}

function once(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => (stopping ??= stop());
}

/** The netns form; throws (with what is missing) when this machine cannot run it. */
async function startNetnsNode(options: NodeOptions): Promise<SandboxNode> {
  await assertNetnsPrerequisites().catch((error: unknown) => {
    throw new Error(`${(error as Error).message.replace(/^e2e tests need/, 'the sandbox with network namespaces needs')} Or run \`pod-identity sandbox --rootless\`.`);
  });
  const curl = await run('curl', ['--version'], { timeoutMs: 10_000 }).catch(() => undefined);
  if (curl?.code !== 0) throw new Error('the sandbox with network namespaces runs curl inside the pod namespaces: install curl, or run `pod-identity sandbox --rootless`');

  const undo: (() => Promise<void>)[] = [];
  try {
    const topo: NetnsTopology = await createTopology({ pods: 3 });
    undo.push(() => topo.cleanup());
    const [pod0, pod1, pod2] = topo.pods;
    if (pod0 === undefined || pod1 === undefined || pod2 === undefined) throw new Error('topology without three pods');

    // The API server at the kubeconfig's own address, the node's IMDS at the real IMDS address.
    const api = new URL(options.apiServer);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: Number(api.port), target: { host: '127.0.0.1', port: Number(api.port) } });
    // Entra ID at its own address too: NMI exchanges its service-account token there (type 3).
    const entra = new URL(options.sim.entraUrl);
    await topo.expose(topo.node, { listenHost: entra.hostname, listenPort: Number(entra.port), target: { host: entra.hostname, port: Number(entra.port) } });
    const listener = await options.sim.startImds(options.nodeName);
    undo.push(() => listener.close());
    const imdsUrl = new URL(listener.url);
    await topo.expose(topo.node, { listenHost: IMDS_IP, listenPort: 80, target: { host: imdsUrl.hostname, port: Number(imdsUrl.port) } });

    const dnat = pod0.gateway;
    const nmi = await startProcess({
      name: 'nmi',
      file: 'ip',
      // `ip netns exec` and `env` both exec: the pid is NMI's own. A clean environment (no proxies).
      args: [
        'netns', 'exec', topo.node, 'env', '-i', `PATH=${PATH}`, `NODE_EXTRA_CA_CERTS=${options.caFile}`, process.execPath,
        ...commonNmiArgs(options),
        `--ipt-dnat-address=${dnat}`,
        '--nmi-listen-address=0.0.0.0',
        `--nmi-port=${NMI_PORT}`,
        `--host-token-port=${HOST_TOKEN_PORT}`,
        `--metadata-ip=${IMDS_IP}`,
        '--metadata-port=80',
        '--ipt-update-interval-sec=5',
        `--http-probe-port=${HEALTH_PORT}`,
        `--prometheus-port=${METRICS_PORT}`,
      ],
      dir: options.dir,
    });
    undo.push(() => nmi.stop(5_000));
    const inNode = (args: string[]): Promise<string> =>
      run('ip', ['netns', 'exec', topo.node, 'curl', '-s', '--noproxy', '*', '--max-time', '2', ...args], { timeoutMs: 10_000, env: { PATH } }).then((r) => (r.code === 0 ? r.stdout : ''));
    // Active = caches synced and the interception rules installed; then the token listener answers.
    await waitUntil('NMI to be Active with its iptables rules', nmi, options.signal, async () => (await inNode([`http://127.0.0.1:${HEALTH_PORT}/healthz`])) === 'Active');
    await waitUntil('NMI to listen', nmi, options.signal, async () => (await inNode(['-o', '/dev/null', '-w', '%{http_code}', `http://${dnat}:${NMI_PORT}/`])) !== '');

    const pods: [SandboxPod, SandboxPod, SandboxPod] = [{ ip: pod0.ip, netns: pod0.name }, { ip: pod1.ip, netns: pod1.name }, { ip: pod2.ip, netns: pod2.name }];
    const url = (resource: string): string => `http://${IMDS_IP}/metadata/identity/oauth2/token?${tokenQuery(resource)}`;
    return {
      mode: 'netns',
      pods,
      nmi,
      nodeNetns: topo.node,
      namespaces: [topo.node, pod0.name, pod1.name, pod2.name],
      interception: `${IMDS_IP}:80 → ${dnat}:${NMI_PORT} (DNAT in ${topo.node})`,
      topologyDir: topo.dir,
      async requestToken(pod, resource) {
        const result = await run(
          'ip',
          ['netns', 'exec', pod.netns ?? '', 'curl', '-s', '-S', '--noproxy', '*', '--max-time', '60', '-H', 'Metadata: true', '-w', '\n%{http_code}', url(resource)],
          { timeoutMs: 90_000, env: { PATH } },
        );
        if (result.code !== 0) throw new Error(`curl in ${pod.netns ?? '?'} exited ${result.code}: ${result.stderr.trim()}`);
        const lines = result.stdout.split('\n');
        const status = Number(lines.pop() ?? '0');
        return { status, body: lines.join('\n') };
      },
      tokenCommand: (pod, resource) => `sudo ip netns exec ${pod.netns ?? '?'} curl -s -H Metadata:true '${url(resource)}'`,
      stop: once(() => unwind(undo)),
    };
  } catch (error) {
    await unwind(undo).catch(() => undefined);
    throw error;
  }
}

/** One HTTP request to NMI from a pod's 127.x address. */
function requestFrom(port: number, from: string, requestPath: string, timeoutMs = 90_000): Promise<TokenAnswer> {
  const req = nodeHttp.request({ host: '127.0.0.1', port, localAddress: from, path: requestPath, headers: { Metadata: 'true' }, agent: false, timeout: timeoutMs });
  req.on('timeout', () => req.destroy(new Error(`request to NMI from ${from} timed out`)));
  return requestText(req);
}

/** The rootless form: no namespaces, no iptables. */
async function startRootlessNode(options: NodeOptions): Promise<SandboxNode> {
  const undo: (() => Promise<void>)[] = [];
  try {
    const listener = await options.sim.startImds(options.nodeName);
    undo.push(() => listener.close());
    const imdsUrl = new URL(listener.url);
    const [port, healthPort, metricsPort] = (await freePorts(3)) as [number, number, number];
    const nmi = await startProcess({
      name: 'nmi',
      file: process.execPath,
      args: [
        ...commonNmiArgs(options),
        '--manage-iptables=false',
        '--nmi-listen-address=127.0.0.1',
        `--nmi-port=${port}`,
        `--host-token-port=${port}`,
        `--metadata-ip=${imdsUrl.hostname}`,
        `--metadata-port=${imdsUrl.port}`,
        `--http-probe-port=${healthPort}`,
        `--prometheus-port=${metricsPort}`,
      ],
      dir: options.dir,
      env: { PATH, NODE_EXTRA_CA_CERTS: options.caFile },
    });
    undo.push(() => nmi.stop(5_000));
    await waitUntil('NMI to be ready', nmi, options.signal, async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(2_000) })).status === 200);
    await waitUntil('NMI to listen', nmi, options.signal, async () => (await requestFrom(port, '127.0.0.1', '/', 2_000)).status > 0);

    // Three addresses in a random 127.x.y.0/24, so concurrent sandboxes do not share pod IPs.
    const net = `127.${randomInt(16, 250)}.${randomInt(1, 250)}`;
    const pods: [SandboxPod, SandboxPod, SandboxPod] = [{ ip: `${net}.2` }, { ip: `${net}.3` }, { ip: `${net}.4` }];
    const tokenPath = (resource: string): string => `/metadata/identity/oauth2/token?${tokenQuery(resource)}`;
    return {
      mode: 'rootless',
      pods,
      nmi,
      namespaces: [],
      interception: `none (rootless): pods call NMI at 127.0.0.1:${port} from their 127.x address`,
      requestToken: (pod, resource) => requestFrom(port, pod.ip, tokenPath(resource)),
      tokenCommand: (pod, resource) => `curl -s --interface ${pod.ip} -H Metadata:true 'http://127.0.0.1:${port}${tokenPath(resource)}'`,
      stop: once(() => unwind(undo)),
    };
  } catch (error) {
    await unwind(undo).catch(() => undefined);
    throw error;
  }
}

export function startNode(options: NodeOptions): Promise<SandboxNode> {
  return options.mode === 'netns' ? startNetnsNode(options) : startRootlessNode(options);
}
