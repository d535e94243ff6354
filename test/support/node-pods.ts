/**
 * User pods on the real node (test/node): manifests in the forms users write them (identities,
 * bindings, exceptions, pods of the client image), and what the tests do with them — exec a client in a
 * container, wait for objects, count IMDS connections of pods.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { runOk } from '../../src/devenv/exec.ts';
import { POD_NETWORK } from '../../src/devenv/node/layout.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import type { NodeWorld } from './node-world.ts';

export const TOKEN_PATH = '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/';
export const ARM_SCOPE = 'https://management.azure.com/.default';

/** JSON manifests kubectl applies (`kubectl apply -f -`). */
export function manifestList(items: readonly object[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

export function identityManifest(namespace: string, name: string, identity: { readonly id: string; readonly clientId: string }): object {
  return { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name, namespace }, spec: { type: 0, resourceID: identity.id, clientID: identity.clientId } };
}

export function bindingManifest(namespace: string, name: string, identity: string, selector: string): object {
  return { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', metadata: { name, namespace }, spec: { azureIdentity: identity, selector } };
}

export function exceptionManifest(namespace: string, name: string, podLabels: Record<string, string>): object {
  return { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzurePodIdentityException', metadata: { name, namespace }, spec: { podLabels } };
}

/** The simulator's CA for the pods' ARM calls (a private cloud's CA, as such a user would mount it). */
export function caConfigMap(namespace: string, caPem: string): object {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cloud-ca', namespace }, data: { 'ca.pem': caPem } };
}

/**
 * A pod of the client image whose containers (`curl`, `node`, `python`) idle until the test execs a
 * client in one of them; all share the pod's address, so all are the same pod to NMI.
 */
export function clientPodManifest(world: NodeWorld, namespace: string, name: string, labels: Record<string, string>, node?: string): object {
  const container = (containerName: string): object => ({
    name: containerName,
    image: world.images.client.ref,
    imagePullPolicy: 'Never',
    command: ['sleep', 'infinity'],
    env: [
      { name: 'NODE_EXTRA_CA_CERTS', value: '/cloud-ca/ca.pem' },
      { name: 'REQUESTS_CA_BUNDLE', value: '/cloud-ca/ca.pem' },
    ],
    volumeMounts: [{ name: 'cloud-ca', mountPath: '/cloud-ca', readOnly: true }],
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 1000 },
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: {
      ...(node === undefined ? {} : { nodeName: node }),
      terminationGracePeriodSeconds: 1,
      containers: [container('curl'), container('node'), container('python')],
      volumes: [{ name: 'cloud-ca', configMap: { name: 'cloud-ca' } }],
    },
  };
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `kubectl exec <pod> -c <container> -- …` (through the API server's egress proxy to the kubelet). */
export async function execIn(world: NodeWorld, namespace: string, pod: string, container: string, command: readonly string[], input?: string): Promise<ExecResult> {
  return world.cluster.kubectl(['exec', ...(input === undefined ? [] : ['-i']), '-n', namespace, pod, '-c', container, '--', ...command], {
    timeoutMs: 120_000,
    ...(input === undefined ? {} : { input }),
  });
}

export interface CurlAnswer {
  readonly status: number;
  readonly body: string;
}

/** curl in the pod's `curl` container: an IMDS token request to the plain default endpoint. */
export async function curlImds(world: NodeWorld, namespace: string, pod: string, query = '', maxSeconds = 30): Promise<CurlAnswer> {
  const result = await execIn(world, namespace, pod, 'curl', [
    'curl', '-s', '-m', String(maxSeconds), '-H', 'Metadata: true', '-w', '\n%{http_code}', `http://169.254.169.254${TOKEN_PATH}${query}`,
  ]);
  const lines = result.stdout.split('\n');
  const status = Number(lines.at(-1));
  if (result.code !== 0 && !(status > 0)) throw new Error(`curl in ${namespace}/${pod} exited ${result.code}: ${result.stderr}${result.stdout}`);
  return { status, body: lines.slice(0, -1).join('\n') };
}

/** Polls `check` until it returns a value (bounded); the last error is in the message. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let attempt = 0; attempt < 100_000; attempt++) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) break;
    await sleep(500);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : `; last error: ${last instanceof Error ? last.message : JSON.stringify(last)}`}`);
}

/** Pod addresses (POD_NETWORK) among the connections the node's IMDS forwarder accepted since `from`. */
export async function podConnectionsToImds(forwarder: ManagedProcess | undefined, from = 0): Promise<{ total: number; fromPods: string[] }> {
  if (forwarder === undefined) throw new Error('the node has no IMDS forwarder');
  const remotes = (await readFile(forwarder.logPath, 'utf8'))
    .split('\n')
    .filter((line) => line.includes('"event":"connection"'))
    .map((line) => ((JSON.parse(line) as { remoteAddress?: string }).remoteAddress ?? '').replace(/^::ffff:/, ''));
  const prefix = POD_NETWORK.split('.').slice(0, 2).join('.') + '.';
  const since = remotes.slice(from);
  return { total: remotes.length, fromPods: since.filter((address) => address.startsWith(prefix)) };
}

export interface TokenLoopTally {
  readonly attempts: number;
  readonly tokens: number;
  /** curl could not connect or the connection was reset (NMI down, rules fail-closed). */
  readonly refused: number;
  /** HTTP answers other than 200, by status. */
  readonly otherStatus: Readonly<Record<string, number>>;
  /** Longest time between two tokens, and from the last refusal to the next token. */
  readonly maxGapMs: number;
  /** Whether the last five attempts were all tokens. */
  readonly flowingAtEnd: boolean;
}

/**
 * A bounded token loop in a pod's `curl` container (at most `maxAttempts`, one every 200 ms, each at
 * most 2 s) until {@link TokenLoop.stop}: what a workload that asks IMDS all the time sees during a
 * roll. Answers are tallied by outcome; the tokens themselves are discarded inside the pod.
 */
export interface TokenLoop {
  stop(): Promise<TokenLoopTally>;
}

export function startTokenLoop(world: NodeWorld, namespace: string, pod: string, maxAttempts = 900): TokenLoop {
  const script = [
    'rm -f /tmp/stop-loop; i=0',
    `while [ "$i" -lt ${maxAttempts} ] && [ ! -e /tmp/stop-loop ]; do`,
    `  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' -H 'Metadata: true' 'http://169.254.169.254${TOKEN_PATH}'); rc=$?`,
    '  echo "$(date +%s%3N) $rc $code"; i=$((i+1)); sleep 0.2',
    'done',
  ].join('\n');
  const running = execIn(world, namespace, pod, 'curl', ['sh', '-c', script]);
  return {
    async stop() {
      await execIn(world, namespace, pod, 'curl', ['touch', '/tmp/stop-loop']);
      const result = await running;
      const lines = result.stdout.split('\n').filter((line) => /^\d+ \d+ \d+$/.test(line));
      const otherStatus: Record<string, number> = {};
      let tokens = 0;
      let refused = 0;
      let lastToken: number | undefined;
      let maxGapMs = 0;
      const outcomes: boolean[] = [];
      for (const line of lines) {
        const [at = 0, rc = 0, code = 0] = line.split(' ').map(Number);
        const token = rc === 0 && code === 200;
        outcomes.push(token);
        if (token) {
          tokens++;
          if (lastToken !== undefined) maxGapMs = Math.max(maxGapMs, at - lastToken);
          lastToken = at;
        } else if (code === 0) refused++;
        else otherStatus[String(code)] = (otherStatus[String(code)] ?? 0) + 1;
      }
      if (lines.length === 0) throw new Error(`token loop in ${namespace}/${pod} printed nothing (exit ${result.code}): ${result.stderr}`);
      return { attempts: lines.length, tokens, refused, otherStatus, maxGapMs, flowingAtEnd: outcomes.length >= 5 && outcomes.slice(-5).every(Boolean) };
    },
  };
}

/** Resident memory in MB of a process (VmRSS), 0 when it is gone. */
async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * What the real nodes cost in memory, for the tier's report line: the node agents (kubelet, containerd
 * and its shims, kube-proxy, forwarders: everything in the node namespaces) by RSS, the pods by their
 * cgroups' usage, and the extra control-plane processes (controller manager, scheduler) by RSS.
 */
export async function nodeTierMemory(world: NodeWorld): Promise<{ agentsMb: number; podsMb: number; controllersMb: number }> {
  let agentsMb = 0;
  let podsMb = 0;
  for (const node of world.cluster.nodes) {
    const pids = await runOk('ip', ['netns', 'pids', node.layout.netns]);
    for (const pid of pids.split(/\s+/).filter((p) => /^\d+$/.test(p))) agentsMb += await rssMb(Number(pid));
    const usage = await readFile(`/sys/fs/cgroup/memory/${node.layout.cgroupRoot}/memory.usage_in_bytes`, 'utf8').catch(() => '0');
    podsMb += Number(usage.trim()) / 1024 / 1024;
  }
  let controllersMb = 0;
  for (const pid of world.cluster.controllerPids) controllersMb += await rssMb(pid);
  return { agentsMb: Math.round(agentsMb), podsMb: Math.round(podsMb), controllersMb: Math.round(controllersMb) };
}
