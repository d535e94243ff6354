/**
 * `pod-identity sandbox`, the orchestration: control plane → CRDs → Azure simulator → Node object →
 * MIC → node with NMI → example manifests → identity assigned → the demo (one pod gets a token for its
 * identity, the other is refused) → ready (or, with `--once`, done). Every step registers how to undo
 * it; whatever happens (a failed step, Ctrl-C, `--once` finishing) everything started is stopped in
 * reverse order, namespaces deleted and temporary files removed.
 * @module
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { readAzureAssignedIdentity } from '../../api/index.ts';
import { repoRoot, locateBinaries, type Binaries } from '../../devenv/binaries.ts';
import { startControlPlane, type ControlPlane } from '../../devenv/control-plane.ts';
import { installCrds } from '../../devenv/crds.ts';
import { freePorts } from '../../devenv/ports.ts';
import { startProcess, type ManagedProcess } from '../../devenv/process.ts';
import { rawRequest } from '../../kube/raw-client.ts';
import { cliKubeAccess } from '../kube-access.ts';
import { EXIT_FAILURE, EXIT_OK, type CommandIo } from '../command.ts';
import { startSandboxAzure, type SandboxAzure } from './azure.ts';
import { ALLOWED_POD, DEMO_NAMESPACE, DENIED_POD, readExamples, type Examples } from './examples.ts';
import { startNode, type NodeMode, type SandboxNode, type SandboxPod, type TokenAnswer } from './node.ts';

export interface SandboxOptions {
  readonly mode: NodeMode;
  /** Why rootless was chosen, when it was not asked for. */
  readonly rootlessReason?: string;
  /** Why the pods are bare network namespaces and not on a real node, when that was not asked for. */
  readonly namespacesReason?: string;
  readonly once: boolean;
  readonly json: boolean;
  /** Keep the sandbox dir (logs, azure.json) after stopping. */
  readonly keepDir: boolean;
}

export const RESOURCE = 'https://management.azure.com/';
const MIC_ENTRY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../mic/main.ts' : '../../mic/main.js', import.meta.url));
const PATH = process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ASSIGN_TIMEOUT_MS = 90_000;

/** The claims the demo shows (never the token itself). */
export interface ShownClaims {
  readonly appid?: string;
  readonly oid?: string;
  readonly tid?: string;
  readonly aud?: string;
  readonly xms_mirid?: string;
  readonly exp?: number;
}

export interface PodOutcome {
  readonly pod: string;
  readonly ip: string;
  readonly netns?: string;
  readonly status: number;
  readonly token: boolean;
  readonly claims?: ShownClaims;
  readonly error?: string;
  readonly errorDescription?: string;
}

/** The `--json` line. */
export interface SandboxSummary {
  readonly ok: boolean;
  readonly state: 'ready' | 'done' | 'failed';
  readonly mode: NodeMode;
  readonly step?: string;
  readonly error?: string;
  readonly dir?: string;
  readonly kubeconfig?: string;
  readonly kubectl?: string;
  readonly apiServer?: string;
  readonly controlPlaneDir?: string;
  readonly cloudconfig?: string;
  readonly node?: string;
  readonly namespaces?: readonly string[];
  readonly identity?: { readonly name: string; readonly resourceId: string; readonly clientId: string };
  readonly allowed?: PodOutcome;
  readonly denied?: PodOutcome;
  readonly logs?: { readonly mic: string; readonly nmi: string; readonly apiServer: string };
  readonly pids?: { readonly mic: number; readonly nmi: number };
  readonly simulator?: { readonly arm: string; readonly entra: string; readonly admin: string };
  readonly startupMs?: number;
}

class StepError extends Error {
  readonly step: string;
  constructor(step: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : inspect(cause), { cause });
    this.step = step;
  }
}

/** The message and its causes on one line. */
function describe(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error; current !== undefined && parts.length < 6; current = current instanceof Error ? current.cause : undefined) {
    if (current instanceof AggregateError) parts.push(`${current.message} (${current.errors.map((inner) => describe(inner)).join('; ')})`);
    else parts.push(current instanceof Error ? current.message : typeof current === 'string' ? current : inspect(current));
  }
  return [...new Set(parts)].join(': ');
}

/** Claims of a JWT without verifying it (the demo only shows them). */
export function decodeClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (payload === undefined) throw new Error('the token is not a JWT');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function outcome(name: string, pod: SandboxPod, answer: TokenAnswer): PodOutcome {
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    // Not JSON: reported as the error text below.
  }
  const base = { pod: name, ip: pod.ip, ...(pod.netns === undefined ? {} : { netns: pod.netns }), status: answer.status };
  const token = body['access_token'];
  if (answer.status === 200 && typeof token === 'string') {
    const all = decodeClaims(token);
    const pick = (key: string): string | undefined => (typeof all[key] === 'string' ? all[key] : undefined);
    const claims: ShownClaims = {
      appid: pick('appid'),
      oid: pick('oid'),
      tid: pick('tid'),
      aud: pick('aud'),
      xms_mirid: pick('xms_mirid'),
      exp: typeof all['exp'] === 'number' ? all['exp'] : undefined,
    };
    return { ...base, token: true, claims };
  }
  return {
    ...base,
    token: false,
    error: typeof body['error'] === 'string' ? body['error'] : answer.body.slice(0, 200),
    ...(typeof body['error_description'] === 'string' ? { errorDescription: body['error_description'] } : {}),
  };
}

function ms(since: number): string {
  const elapsed = performance.now() - since;
  return elapsed < 1000 ? `${Math.round(elapsed)} ms` : `${(elapsed / 1000).toFixed(1)} s`;
}

/** Runs the sandbox; resolves to the exit code once everything it started is gone again. */
export async function runSandbox(options: SandboxOptions, io: CommandIo): Promise<number> {
  // With --json stdout carries exactly the one summary line; progress goes to stderr.
  const say = (text: string): void => void (options.json ? io.stderr : io.stdout).write(`${text}\n`);
  const started = performance.now();
  const undo: { what: string; run: () => Promise<void> }[] = [];
  const children: ManagedProcess[] = [];
  const killChildren = (): void => {
    for (const child of children) child.killSync();
  };
  process.once('exit', killChildren);

  const STEPS = 9;
  let stepNo = 0;
  const step = async <T>(label: string, work: () => Promise<T>, detail: (value: T) => string): Promise<T> => {
    stepNo++;
    if (io.shutdown.aborted) throw new StepError(label, new Error('interrupted'));
    const t0 = performance.now();
    let value: T;
    try {
      value = await work();
    } catch (error) {
      throw new StepError(label, error);
    }
    say(`  [${stepNo}/${STEPS}] ${label.padEnd(22)} ${detail(value)} (${ms(t0)})`);
    return value;
  };

  let summary: SandboxSummary = { ok: false, state: 'failed', mode: options.mode };
  let code: number = EXIT_OK;
  let dir: string | undefined;
  try {
    say(
      options.mode === 'netns'
        ? `pod-identity sandbox: the whole system on this machine; pods in network namespaces, NMI with real iptables rules in a node namespace${options.namespacesReason === undefined ? '' : ` (no real node: ${options.namespacesReason})`}`
        : `pod-identity sandbox: the whole system on this machine, rootless${options.rootlessReason === undefined ? '' : ` (${options.rootlessReason})`}: pods on 127.x addresses, NMI on 127.0.0.1 without iptables`,
    );
    const sandboxDir = await mkdtemp(path.join(tmpdir(), 'pod-identity-sandbox-'));
    dir = sandboxDir;
    if (!options.keepDir) undo.push({ what: `removing ${sandboxDir}`, run: () => rm(sandboxDir, { recursive: true, force: true }) });
    const examples: Examples = await readExamples();

    say('  control-plane binaries: KUBEBUILDER_ASSETS, else the cache of scripts/build-test-binaries.sh, else built from source (needs Go; ~20 min the first time, progress on stderr)');
    await step<Binaries>('binaries', () => locateBinaries(), (found) => path.dirname(found.kubeApiserver));

    const plane = await step<ControlPlane>(
      'etcd + kube-apiserver',
      async () => {
        const started = await startControlPlane({ killOnSignal: false });
        undo.push({ what: 'stopping etcd and kube-apiserver', run: () => started.stop() });
        return started;
      },
      (cp) => cp.server,
    );
    const kubeconfigPath = path.join(sandboxDir, 'kubeconfig');
    await copyFile(plane.kubeconfigPath, kubeconfigPath);
    const loaded = new KubeConfig();
    loaded.loadFromFile(kubeconfigPath);
    const kc = cliKubeAccess(loaded);

    await step(
      'CRDs',
      async () => {
        const crds = await installCrds((args, o) => plane.kubectl(args, o), path.join(repoRoot, 'deploy/crds.yaml'));
        // Established CRDs can still answer 429 "storage is (re)initializing" for a moment.
        for (let attempt = 0; ; attempt++) {
          try {
            await rawRequest(kc, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities' });
            return crds;
          } catch (error) {
            if (attempt > 100) throw error;
            await sleep(100);
          }
        }
      },
      (crds) => `${crds.length} from deploy/crds.yaml`,
    );

    const azure = await step<SandboxAzure>(
      'Azure simulator',
      async () => {
        const seeded = await startSandboxAzure(sandboxDir, examples.identity);
        undo.push({ what: 'stopping the Azure simulator', run: () => seeded.sim.stop() });
        return seeded;
      },
      (a) => `ARM ${a.sim.armUrl}, Entra ${a.sim.entraUrl}; scale set with node ${a.nodeName}, identity ${a.identity.name} (client ID ${a.identity.clientId})`,
    );
    const wrongNode = examples.podNodes.find((name) => name !== azure.nodeName);
    if (wrongNode !== undefined) throw new StepError('Azure simulator', new Error(`examples/sandbox/pods.yaml names node ${wrongNode}, the simulated node is ${azure.nodeName}`));

    await step(
      'Node',
      () => rawRequest(kc, { method: 'POST', path: '/api/v1/nodes', body: { metadata: { name: azure.nodeName, labels: { 'kubernetes.io/os': 'linux' } }, spec: { providerID: azure.providerId } } }),
      () => `${azure.nodeName}, providerID …${azure.providerId.slice(azure.providerId.indexOf('/virtualMachineScaleSets/'))}`,
    );

    const mic = await step<ManagedProcess>(
      'MIC',
      async () => {
        const [healthPort, metricsPort] = (await freePorts(2)) as [number, number];
        const proc = await startProcess({
          name: 'mic',
          file: process.execPath,
          args: [
            MIC_ENTRY,
            `--kubeconfig=${kubeconfigPath}`,
            `--cloudconfig=${azure.azureJsonPath}`,
            '--leader-election-instance=sandbox-mic',
            '--leader-election-namespace=kube-system',
            `--http-probe-port=${healthPort}`,
            `--prometheus-port=${metricsPort}`,
            '--health-bind-address=127.0.0.1',
            '--metrics-bind-address=127.0.0.1',
            '--log-format=json',
          ],
          dir: sandboxDir,
          env: { PATH, MIC_POD_NAMESPACE: 'kube-system' },
        });
        children.push(proc);
        undo.push({ what: 'stopping MIC', run: () => proc.stop(10_000) });
        const deadline = Date.now() + 60_000;
        for (;;) {
          if (proc.exit() !== undefined) throw new Error(`MIC exited (${JSON.stringify(proc.exit())}); last lines of ${proc.logPath}:\n${await proc.tail(20)}`);
          const health = await fetch(`http://127.0.0.1:${healthPort}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text(), () => '');
          if (health === 'Active') return proc;
          if (io.shutdown.aborted) throw new Error('interrupted');
          if (Date.now() > deadline) throw new Error(`MIC did not become the leader within 60 s; last lines of ${proc.logPath}:\n${await proc.tail(20)}`);
          await sleep(200);
        }
      },
      (proc) => `leader, pid ${proc.pid}, service principal ${azure.micClientId}`,
    );

    const node = await step<SandboxNode>(
      options.mode === 'netns' ? 'namespaces + NMI' : 'NMI (rootless)',
      async () => {
        const started = await startNode({
          mode: options.mode,
          dir: sandboxDir,
          nodeName: azure.nodeName,
          sim: azure.sim,
          kubeconfigPath,
          apiServer: plane.server,
          caFile: azure.caFile,
          signal: io.shutdown,
        });
        children.push(started.nmi);
        undo.push({ what: options.mode === 'netns' ? 'stopping NMI, deleting the namespaces' : 'stopping NMI', run: () => started.stop() });
        return started;
      },
      (n) => `${n.nodeNetns === undefined ? '' : `node ${n.nodeNetns}, `}NMI pid ${n.nmi.pid}; interception ${n.interception}`,
    );
    const [allowedPod, deniedPod] = node.pods;

    await step(
      'examples',
      async () => {
        for (const file of examples.files) {
          const applied = await plane.kubectl(['apply', '-f', file]);
          if (applied.code !== 0) throw new Error(`kubectl apply -f ${file}: ${applied.stderr.trim()}`);
        }
        // No kubelet: the sandbox is the pods' runtime, so it reports them Running with their addresses.
        for (const [name, pod] of [[ALLOWED_POD, allowedPod], [DENIED_POD, deniedPod]] as const) {
          await rawRequest(kc, {
            method: 'PATCH',
            path: `/api/v1/namespaces/${DEMO_NAMESPACE}/pods/${name}/status`,
            contentType: 'application/merge-patch+json',
            body: { status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }] } },
          });
        }
      },
      () => `${examples.files.map((file) => path.relative(repoRoot, file)).join(', ')}; pod IPs ${allowedPod.ip}, ${deniedPod.ip}`,
    );

    await step(
      'identity assigned',
      async () => {
        const deadline = Date.now() + ASSIGN_TIMEOUT_MS;
        for (;;) {
          // AzureAssignedIdentities live in MIC's namespace (default), not the pod's (as upstream).
          const list = (await rawRequest(kc, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities' })) as { items: unknown[] };
          const assigned = list.items
            .map(readAzureAssignedIdentity)
            .find((aai) => aai.spec.podNamespace === DEMO_NAMESPACE && aai.spec.pod === ALLOWED_POD && aai.status?.status === 'Assigned');
          if (assigned !== undefined) return `${assigned.metadata.namespace ?? ''}/${assigned.metadata.name ?? ''}`;
          if (mic.exit() !== undefined) throw new Error(`MIC exited; last lines of ${mic.logPath}:\n${await mic.tail(20)}`);
          if (io.shutdown.aborted) throw new Error('interrupted');
          if (Date.now() > deadline) throw new Error(`MIC did not assign ${examples.identity.name} to ${DEMO_NAMESPACE}/${ALLOWED_POD} within ${ASSIGN_TIMEOUT_MS / 1000} s; last lines of ${mic.logPath}:\n${await mic.tail(20)}`);
          await sleep(200);
        }
      },
      (name) => `MIC added ${examples.identity.name} to the scale set; AzureAssignedIdentity ${name} Assigned`,
    );

    // The demo.
    let allowed: PodOutcome;
    let denied: PodOutcome;
    try {
      say('');
      say(`${DEMO_NAMESPACE}/${ALLOWED_POD} (label aadpodidbinding: demo) asks for a token:`);
      say(`  $ ${node.tokenCommand(allowedPod, RESOURCE)}`);
      allowed = outcome(ALLOWED_POD, allowedPod, await node.requestToken(allowedPod, RESOURCE));
      if (allowed.claims === undefined) {
        say(`  → HTTP ${allowed.status} ${allowed.error ?? ''} ${allowed.errorDescription ?? ''}`);
      } else {
        say(`  → HTTP ${allowed.status}, a token (not shown) with claims:`);
        say(`      appid     ${allowed.claims.appid ?? '?'}   (client ID of ${examples.identity.name})`);
        say(`      xms_mirid ${allowed.claims.xms_mirid ?? '?'}`);
        say(`      aud       ${allowed.claims.aud ?? '?'}`);
      }
      say(`${DEMO_NAMESPACE}/${DENIED_POD} (no binding label) asks the same:`);
      say(`  $ ${node.tokenCommand(deniedPod, RESOURCE)}`);
      denied = outcome(DENIED_POD, deniedPod, await node.requestToken(deniedPod, RESOURCE));
      say(denied.token ? `  → HTTP ${denied.status} with a token: this must not happen` : `  → HTTP ${denied.status} {"error":"${denied.error ?? ''}","error_description":"${denied.errorDescription ?? ''}"}`);
    } catch (error) {
      throw new StepError('demo', error);
    }
    const demoProblems: string[] = [];
    if (allowed.claims?.appid?.toLowerCase() !== examples.identity.clientId.toLowerCase()) demoProblems.push(`${ALLOWED_POD} did not get a token for ${examples.identity.name}`);
    if (denied.token) demoProblems.push(`${DENIED_POD} got a token`);

    summary = {
      ok: demoProblems.length === 0,
      state: demoProblems.length > 0 ? 'failed' : options.once ? 'done' : 'ready',
      mode: options.mode,
      ...(demoProblems.length > 0 ? { step: 'demo', error: demoProblems.join('; ') } : {}),
      dir: sandboxDir,
      kubeconfig: kubeconfigPath,
      kubectl: path.join(plane.binDir, 'kubectl'),
      apiServer: plane.server,
      controlPlaneDir: plane.dir,
      cloudconfig: azure.azureJsonPath,
      node: azure.nodeName,
      namespaces: node.namespaces,
      identity: { name: examples.identity.name, resourceId: azure.identity.resourceId, clientId: azure.identity.clientId },
      allowed,
      denied,
      logs: { mic: mic.logPath, nmi: node.nmi.logPath, apiServer: path.join(plane.dir, 'kube-apiserver.log') },
      pids: { mic: mic.pid, nmi: node.nmi.pid },
      simulator: { arm: azure.sim.armUrl, entra: azure.sim.entraUrl, admin: azure.sim.adminUrl },
      startupMs: Math.round(performance.now() - started),
    };
    if (demoProblems.length > 0) throw new StepError('demo', new Error(demoProblems.join('; ')));

    if (!options.once) {
      say('');
      say('Poke at it (another terminal):');
      say(`  export KUBECONFIG=${kubeconfigPath}`);
      say(`  export PATH=${plane.binDir}:$PATH    # kubectl`);
      say('  kubectl get azureidentities,azureidentitybindings,azureassignedidentities -A');
      say(`  kubectl get pods -n ${DEMO_NAMESPACE} -o wide`);
      say(`  ${node.tokenCommand(allowedPod, RESOURCE)}`);
      say(`  ${node.tokenCommand(deniedPod, RESOURCE)}`);
      say(`  npm run -s pod-identity -- doctor ${DENIED_POD} -n ${DEMO_NAMESPACE} --kubeconfig ${kubeconfigPath} --cloudconfig ${azure.azureJsonPath}`);
      say(`  curl -s ${azure.sim.adminUrl}/requests    # what the Azure simulator was asked (docs/simulator.md)`);
      say(`Logs: MIC ${mic.logPath}, NMI ${node.nmi.logPath}, kube-apiserver ${path.join(plane.dir, 'kube-apiserver.log')}`);
      say(`Ready in ${ms(started)}. Ctrl-C to stop (removes the namespaces, processes and files).`);
    }
    if (options.json) io.stdout.write(`${JSON.stringify(summary)}\n`);

    if (!options.once) {
      // Up until SIGINT/SIGTERM, or until MIC or NMI dies (then there is nothing left to poke at).
      const died = await new Promise<ManagedProcess | undefined>((resolve) => {
        if (io.shutdown.aborted) {
          resolve(undefined);
          return;
        }
        io.shutdown.addEventListener('abort', () => { resolve(undefined); }, { once: true });
        for (const proc of [mic, node.nmi]) void proc.exited.then(() => { resolve(proc); });
      });
      if (died !== undefined) {
        io.stderr.write(`sandbox: ${died.name} exited (${JSON.stringify(died.exit())}); stopping. Last lines of ${died.logPath}:\n${await died.tail(20)}\n`);
        code = EXIT_FAILURE;
      } else {
        say('');
        say(`${String(io.shutdown.reason)}: stopping`);
      }
    }
  } catch (error) {
    code = EXIT_FAILURE;
    const stepName = error instanceof StepError ? error.step : 'setup';
    const message = describe(error instanceof StepError ? error.cause : error);
    io.stderr.write(`sandbox: step "${stepName}" failed: ${message}\n`);
    if (stepName !== 'demo' || summary.state !== 'failed' || summary.dir === undefined) summary = { ok: false, state: 'failed', mode: options.mode, step: stepName, error: message };
    if (options.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  }

  // Teardown, newest first; every step runs even when an earlier one fails.
  const t0 = performance.now();
  const problems: string[] = [];
  for (const item of undo.reverse()) {
    await item.run().catch((error: unknown) => problems.push(`${item.what}: ${describe(error)}`));
  }
  process.off('exit', killChildren);
  if (problems.length > 0) {
    io.stderr.write(`sandbox: cleanup failed:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
    return EXIT_FAILURE;
  }
  say(`stopped: processes, namespaces and ${options.keepDir && dir !== undefined ? `files removed (kept ${dir})` : 'files removed'} (${ms(t0)})`);
  return code;
}
