/**
 * `pod-identity sandbox`, the orchestration: the phases of ./phases/ in order — control plane → CRDs →
 * Azure simulator → Node object → MIC → NMI's federated token → node with NMI → example manifests →
 * identities assigned — then the demo (one pod gets a token for its identity, another is refused, a
 * third gets its federated identity's token) and the report → ready (or,
 * with `--once`, done). Every phase registers how to undo it; whatever happens (a failed phase, Ctrl-C,
 * `--once` finishing) everything started is stopped in reverse order, namespaces deleted and
 * temporary files removed.
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot, locateBinaries, type Binaries } from '../../devenv/binaries.ts';
import type { ControlPlane } from '../../devenv/control-plane.ts';
import type { ManagedProcess } from '../../devenv/process.ts';
import { EXIT_FAILURE, EXIT_OK, type CommandIo } from '../command.ts';
import { readExamples, type Examples } from './examples.ts';
import { applyExamples } from './phases/apply-examples.ts';
import { waitForAssignment } from './phases/assignment.ts';
import { examplesNodeMismatch, startSandboxAzure, type SandboxAzure } from './phases/azure.ts';
import { sandboxKube, startSandboxControlPlane } from './phases/control-plane.ts';
import { installProjectCrds } from './phases/crds.ts';
import { demoProblems, runDemo, type DemoOutcomes } from './phases/demo.ts';
import { provideFederatedToken, type FederatedTokenFile } from './phases/federated-token.ts';
import { startSandboxMic } from './phases/mic.ts';
import { startNode, type NodeMode, type SandboxNode } from './phases/node.ts';
import { registerNode } from './phases/node-object.ts';
import { pokeAtIt, sandboxSummary, waitUntilStopped, type RunningSandbox, type SandboxSummary } from './phases/report.ts';
import { describe, ms, stepRunner, StepError, Teardown } from './steps.ts';

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

const PHASES = 10;

function introduction(options: SandboxOptions): string {
  return options.mode === 'netns'
    ? `pod-identity sandbox: the whole system on this machine; pods in network namespaces, NMI with real iptables rules in a node namespace${options.namespacesReason === undefined ? '' : ` (no real node: ${options.namespacesReason})`}`
    : `pod-identity sandbox: the whole system on this machine, rootless${options.rootlessReason === undefined ? '' : ` (${options.rootlessReason})`}: pods on 127.x addresses, NMI on 127.0.0.1 without iptables`;
}

/** Runs the sandbox; resolves to the exit code once everything it started is gone again. */
export async function runSandbox(options: SandboxOptions, io: CommandIo): Promise<number> {
  // With --json stdout carries exactly the one summary line; progress goes to stderr.
  const say = (text: string): void => void (options.json ? io.stderr : io.stdout).write(`${text}\n`);
  const started = performance.now();
  const teardown = new Teardown();
  const step = stepRunner({ total: PHASES, say, signal: io.shutdown });

  let summary: SandboxSummary = { ok: false, state: 'failed', mode: options.mode };
  let code: number = EXIT_OK;
  let dir: string | undefined;
  try {
    say(introduction(options));
    const sandboxDir = await mkdtemp(path.join(tmpdir(), 'pod-identity-sandbox-'));
    dir = sandboxDir;
    if (!options.keepDir) teardown.add(`removing ${sandboxDir}`, () => rm(sandboxDir, { recursive: true, force: true }));
    const examples: Examples = await readExamples();

    say('  control-plane binaries: KUBEBUILDER_ASSETS, else the cache of scripts/build-test-binaries.sh, else built from source (needs Go; ~20 min the first time, progress on stderr)');
    await step<Binaries>('binaries', () => locateBinaries(), (found) => path.dirname(found.kubeApiserver));

    const plane = await step<ControlPlane>('etcd + kube-apiserver', () => startSandboxControlPlane(teardown), (cp) => cp.server);
    const { kubeconfigPath, kube } = await sandboxKube(plane, sandboxDir);

    await step('CRDs', () => installProjectCrds(plane, kube), (crds) => `${crds.length} from deploy/crds.yaml`);

    const azure = await step<SandboxAzure>(
      'Azure simulator',
      async () => {
        const seeded = await startSandboxAzure(sandboxDir, examples, plane);
        teardown.add('stopping the Azure simulator', () => seeded.sim.stop());
        return seeded;
      },
      (a) =>
        `ARM ${a.sim.armUrl}, Entra ${a.sim.entraUrl}; scale set with node ${a.nodeName}, identity ${a.identity.name} (client ID ${a.identity.clientId}); ` +
        `federated identity ${examples.federated.azureName} (client ID ${a.federated.clientId}) trusting ${a.federated.subject} from ${a.federated.issuer}`,
    );
    const mismatch = examplesNodeMismatch(examples, azure.nodeName);
    if (mismatch !== undefined) throw new StepError('Azure simulator', new Error(mismatch));

    await step(
      'Node',
      () => registerNode(kube, azure.nodeName, azure.providerId),
      () => `${azure.nodeName}, providerID …${azure.providerId.slice(azure.providerId.indexOf('/virtualMachineScaleSets/'))}`,
    );

    const mic = await step<ManagedProcess>(
      'MIC',
      () => startSandboxMic({ dir: sandboxDir, kubeconfigPath, cloudconfigPath: azure.azureJsonPath, signal: io.shutdown, teardown }),
      (proc) => `leader, pid ${proc.pid}, service principal ${azure.micClientId}`,
    );

    const federatedToken = await step<FederatedTokenFile>(
      "NMI's federated token",
      () => provideFederatedToken(kube, sandboxDir, teardown),
      (token) => `service account ${token.serviceAccount}, audience ${token.audience}: ${token.file}, renewed every ${Math.round(token.renewEveryMs / 60_000)} min`,
    );

    const node = await step<SandboxNode>(
      options.mode === 'netns' ? 'namespaces + NMI' : 'NMI (rootless)',
      async () => {
        const startedNode = await startNode({
          mode: options.mode,
          dir: sandboxDir,
          nodeName: azure.nodeName,
          sim: azure.sim,
          kubeconfigPath,
          apiServer: plane.server,
          caFile: azure.caFile,
          federatedTokenFile: federatedToken.file,
          signal: io.shutdown,
        });
        teardown.track(startedNode.nmi);
        teardown.add(options.mode === 'netns' ? 'stopping NMI, deleting the namespaces' : 'stopping NMI', () => startedNode.stop());
        return startedNode;
      },
      (n) => `${n.nodeNetns === undefined ? '' : `node ${n.nodeNetns}, `}NMI pid ${n.nmi.pid}; interception ${n.interception}`,
    );
    const [allowedPod, deniedPod, federatedPod] = node.pods;

    await step(
      'examples',
      () => applyExamples(plane, kube, examples, node.pods),
      () => `${[...examples.files, examples.federatedFile].map((file) => path.relative(repoRoot, file)).join(', ')}; pod IPs ${allowedPod.ip}, ${deniedPod.ip}, ${federatedPod.ip}`,
    );

    await step(
      'identity assigned',
      () => waitForAssignment(kube, mic, examples.identity.name, io.shutdown),
      (names) => `MIC added ${examples.identity.name} to the scale set; AzureAssignedIdentity ${names.allowed} Assigned; federated: ${names.federated} Assigned, nothing added`,
    );

    const sandbox: RunningSandbox = { mode: options.mode, dir: sandboxDir, kubeconfigPath, plane, azure, mic, node, examples, federatedToken };
    let demo: DemoOutcomes;
    try {
      demo = await runDemo(node, examples, azure, say);
    } catch (error) {
      throw new StepError('demo', error);
    }
    const problems = demoProblems(demo, examples);
    summary = sandboxSummary(sandbox, { demo, problems, once: options.once, startupMs: Math.round(performance.now() - started) });
    if (problems.length > 0) throw new StepError('demo', new Error(problems.join('; ')));

    if (!options.once) for (const line of pokeAtIt(sandbox, ms(started))) say(line);
    if (options.json) io.stdout.write(`${JSON.stringify(summary)}\n`);

    if (!options.once) {
      const died = await waitUntilStopped(io.shutdown, [mic, node.nmi]);
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

  // Teardown, newest first; every undo runs even when an earlier one fails.
  const t0 = performance.now();
  const problems = await teardown.run();
  if (problems.length > 0) {
    io.stderr.write(`sandbox: cleanup failed:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
    return EXIT_FAILURE;
  }
  say(`stopped: processes, namespaces and ${options.keepDir && dir !== undefined ? `files removed (kept ${dir})` : 'files removed'} (${ms(t0)})`);
  return code;
}
