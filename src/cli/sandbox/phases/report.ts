/**
 * The end of a sandbox run: the `--json` summary, the "Poke at it" lines, and staying up until a
 * signal or until MIC or NMI dies. Pure except {@link waitUntilStopped}.
 * @module
 */
import path from 'node:path';
import type { ControlPlane } from '../../../devenv/control-plane.ts';
import type { ManagedProcess } from '../../../devenv/process.ts';
import { DEMO_NAMESPACE, DENIED_POD, type Examples } from '../examples.ts';
import type { SandboxAzure } from './azure.ts';
import { RESOURCE, type DemoOutcomes, type FederatedOutcome, type PodOutcome } from './demo.ts';
import type { FederatedTokenFile } from './federated-token.ts';
import type { NodeMode, SandboxNode } from './node.ts';

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
  /** The federated identity (type 3): its credential's issuer and subject, NMI's token file. */
  readonly federatedIdentity?: {
    readonly name: string;
    readonly resourceId: string;
    readonly clientId: string;
    readonly tenantId: string;
    readonly issuer: string;
    readonly subject: string;
    readonly tokenFile: string;
  };
  /** The federated pod's outcome, with the simulator's counts while NMI served it. */
  readonly federated?: FederatedOutcome;
  readonly logs?: { readonly mic: string; readonly nmi: string; readonly apiServer: string };
  readonly pids?: { readonly mic: number; readonly nmi: number };
  readonly simulator?: { readonly arm: string; readonly entra: string; readonly admin: string };
  readonly startupMs?: number;
}

/** Everything the phases started. */
export interface RunningSandbox {
  readonly mode: NodeMode;
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly plane: ControlPlane;
  readonly azure: SandboxAzure;
  readonly mic: ManagedProcess;
  readonly node: SandboxNode;
  readonly examples: Examples;
  readonly federatedToken: FederatedTokenFile;
}

export interface SummaryFacts {
  readonly demo: DemoOutcomes;
  /** What the demo got wrong (`demoProblems`): empty when it worked. */
  readonly problems: readonly string[];
  readonly once: boolean;
  readonly startupMs: number;
}

export function sandboxSummary(sandbox: RunningSandbox, facts: SummaryFacts): SandboxSummary {
  const { plane, azure, node, mic, examples, federatedToken } = sandbox;
  const failed = facts.problems.length > 0;
  return {
    ok: !failed,
    state: failed ? 'failed' : facts.once ? 'done' : 'ready',
    mode: sandbox.mode,
    ...(failed ? { step: 'demo', error: facts.problems.join('; ') } : {}),
    dir: sandbox.dir,
    kubeconfig: sandbox.kubeconfigPath,
    kubectl: path.join(plane.binDir, 'kubectl'),
    apiServer: plane.server,
    controlPlaneDir: plane.dir,
    cloudconfig: azure.azureJsonPath,
    node: azure.nodeName,
    namespaces: node.namespaces,
    identity: { name: examples.identity.name, resourceId: azure.identity.resourceId, clientId: azure.identity.clientId },
    allowed: facts.demo.allowed,
    denied: facts.demo.denied,
    federatedIdentity: {
      name: examples.federated.name,
      resourceId: azure.federated.resourceId,
      clientId: azure.federated.clientId,
      tenantId: examples.federated.tenantId,
      issuer: azure.federated.issuer,
      subject: azure.federated.subject,
      tokenFile: federatedToken.file,
    },
    federated: facts.demo.federated,
    logs: { mic: mic.logPath, nmi: node.nmi.logPath, apiServer: path.join(plane.dir, 'kube-apiserver.log') },
    pids: { mic: mic.pid, nmi: node.nmi.pid },
    simulator: { arm: azure.sim.armUrl, entra: azure.sim.entraUrl, admin: azure.sim.adminUrl },
    startupMs: facts.startupMs,
  };
}

/** How to look around a ready sandbox; `readyIn` is the start-up time as shown. */
export function pokeAtIt(sandbox: RunningSandbox, readyIn: string): string[] {
  const { plane, azure, node, mic, kubeconfigPath } = sandbox;
  const [allowedPod, deniedPod, federatedPod] = node.pods;
  return [
    '',
    'Poke at it (another terminal):',
    `  export KUBECONFIG=${kubeconfigPath}`,
    `  export PATH=${plane.binDir}:$PATH    # kubectl`,
    '  kubectl get azureidentities,azureidentitybindings,azureassignedidentities -A',
    `  kubectl get pods -n ${DEMO_NAMESPACE} -o wide`,
    `  ${node.tokenCommand(allowedPod, RESOURCE)}`,
    `  ${node.tokenCommand(deniedPod, RESOURCE)}`,
    `  ${node.tokenCommand(federatedPod, RESOURCE)}    # the federated identity`,
    `  curl -s '${azure.sim.adminUrl}/requests?service=entra&method=POST'    # NMI's client-assertion exchanges`,
    `  npm run -s pod-identity -- doctor ${DENIED_POD} -n ${DEMO_NAMESPACE} --kubeconfig ${kubeconfigPath} --cloudconfig ${azure.azureJsonPath}`,
    `  curl -s ${azure.sim.adminUrl}/requests    # what the Azure simulator was asked (docs/simulator.md)`,
    `Logs: MIC ${mic.logPath}, NMI ${node.nmi.logPath}, kube-apiserver ${path.join(plane.dir, 'kube-apiserver.log')}`,
    `Ready in ${readyIn}. Ctrl-C to stop (removes the namespaces, processes and files).`,
  ];
}

/** Up until `signal` (SIGINT/SIGTERM), or until one of `processes` dies (then there is nothing left to poke at): resolves to that one. */
export function waitUntilStopped(signal: AbortSignal, processes: readonly ManagedProcess[]): Promise<ManagedProcess | undefined> {
  return new Promise<ManagedProcess | undefined>((resolve) => {
    if (signal.aborted) {
      resolve(undefined);
      return;
    }
    signal.addEventListener('abort', () => { resolve(undefined); }, { once: true });
    for (const proc of processes) void proc.exited.then(() => { resolve(proc); });
  });
}
