/**
 * Phase "MIC": src/mic/main.ts (dist/src/mic/main.js when compiled) as its own process on this Node,
 * with upstream-style flags, a kubeconfig and an azure.json. {@link launchMic} is the one way MIC is
 * started outside a cluster: by the sandbox here and by the integration tests' MicWorld
 * (test/support/mic-world.ts), which add their own flags.
 * @module
 */
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from '../../../devenv/ports.ts';
import { startProcess, type ManagedProcess } from '../../../devenv/process.ts';
import type { Teardown } from '../steps.ts';

/** src/mic/main.ts from sources, dist/src/mic/main.js when compiled. */
export const MIC_ENTRY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../../mic/main.ts' : '../../../mic/main.js', import.meta.url));
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const LEADER_TIMEOUT_MS = 60_000;

export interface MicLaunchOptions {
  /** The process's name: its log is `<dir>/<name>.log`, its pidfile `<dir>/<name>.pid`. */
  readonly name: string;
  readonly dir: string;
  readonly kubeconfigPath: string;
  /** MIC's azure.json. */
  readonly cloudconfigPath: string;
  /** `--leader-election-instance`. */
  readonly instance: string;
  /** The script Node runs; default {@link MIC_ENTRY}. */
  readonly entry?: string;
  /** `node` flags before the entry (the benchmark gives the image ENTRYPOINT's). */
  readonly nodeArgs?: readonly string[];
  /** After the common flags (a later flag wins). */
  readonly extraArgs?: readonly string[];
  /** Over MIC's environment (`PATH`, `MIC_POD_NAMESPACE=kube-system`). */
  readonly env?: Readonly<Record<string, string>>;
}

/** How MIC is run: this Node, its argv and its whole environment. */
export interface MicCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/** MIC's command line: leader election in kube-system, probes and metrics on loopback, JSON logs. */
export function micCommand(options: MicLaunchOptions & { readonly healthPort: number; readonly metricsPort: number }): MicCommand {
  return {
    file: process.execPath,
    args: [
      ...(options.nodeArgs ?? []),
      options.entry ?? MIC_ENTRY,
      `--kubeconfig=${options.kubeconfigPath}`,
      `--cloudconfig=${options.cloudconfigPath}`,
      `--leader-election-instance=${options.instance}`,
      '--leader-election-namespace=kube-system',
      `--http-probe-port=${options.healthPort}`,
      `--prometheus-port=${options.metricsPort}`,
      '--health-bind-address=127.0.0.1',
      '--metrics-bind-address=127.0.0.1',
      '--log-format=json',
      ...(options.extraArgs ?? []),
    ],
    env: { PATH: process.env['PATH'] ?? DEFAULT_PATH, MIC_POD_NAMESPACE: 'kube-system', ...options.env },
  };
}

/** A started MIC and the free loopback ports its probes and metrics listen on. */
export interface LaunchedMic {
  readonly managed: ManagedProcess;
  readonly healthPort: number;
  readonly metricsPort: number;
}

/** Starts MIC ({@link micCommand}) with its output in `<dir>/<name>.log`; does not wait for it. */
export async function launchMic(options: MicLaunchOptions): Promise<LaunchedMic> {
  // Two distinct ports (two separate free-port probes may return the same one).
  const [healthPort, metricsPort] = (await freePorts(2)) as [number, number];
  const command = micCommand({ ...options, healthPort, metricsPort });
  const started = await startProcess({ name: options.name, dir: options.dir, file: command.file, args: command.args, env: command.env });
  return { managed: started, healthPort, metricsPort };
}

export interface SandboxMicOptions {
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly cloudconfigPath: string;
  readonly signal: AbortSignal;
  readonly teardown: Teardown;
}

/** The sandbox's one MIC (`<dir>/mic.log`): started, registered for teardown, then waited for until it leads. */
export async function startSandboxMic(options: SandboxMicOptions): Promise<ManagedProcess> {
  const { managed: mic, healthPort } = await launchMic({
    name: 'mic',
    dir: options.dir,
    kubeconfigPath: options.kubeconfigPath,
    cloudconfigPath: options.cloudconfigPath,
    instance: 'sandbox-mic',
  });
  options.teardown.track(mic);
  options.teardown.add('stopping MIC', () => mic.stop(10_000));
  const deadline = Date.now() + LEADER_TIMEOUT_MS;
  for (;;) {
    if (mic.exit() !== undefined) throw new Error(`MIC exited (${JSON.stringify(mic.exit())}); last lines of ${mic.logPath}:\n${await mic.tail(20)}`);
    const health = await fetch(`http://127.0.0.1:${healthPort}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text(), () => '');
    if (health === 'Active') return mic;
    if (options.signal.aborted) throw new Error('interrupted');
    if (Date.now() > deadline) throw new Error(`MIC did not become the leader within ${LEADER_TIMEOUT_MS / 1000} s; last lines of ${mic.logPath}:\n${await mic.tail(20)}`);
    await sleep(200);
  }
}
