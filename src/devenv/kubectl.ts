import path from 'node:path';
import { run, type RunResult } from './exec.ts';

export interface KubectlOptions {
  readonly input?: string;
  /** Defaults to the admin kubeconfig. */
  readonly kubeconfigPath?: string;
  readonly timeoutMs?: number;
}

/** Runs the kubectl binary from `binDir`; discovery cache goes into the plane's dir, not ~/.kube. */
export function runKubectl(
  plane: { readonly binDir: string; readonly dir: string; readonly kubeconfigPath: string },
  args: readonly string[],
  options: KubectlOptions = {},
): Promise<RunResult> {
  return run(path.join(plane.binDir, 'kubectl'), [`--kubeconfig=${options.kubeconfigPath ?? plane.kubeconfigPath}`, ...args], {
    input: options.input,
    timeoutMs: options.timeoutMs ?? 60_000,
    env: { ...process.env, KUBECONFIG: '', KUBECACHEDIR: path.join(plane.dir, 'kubectl-cache') },
  });
}

/** Runs the helm binary from `binDir` against the plane, keeping helm's state inside the plane's dir. */
export function runHelm(
  plane: { readonly binDir: string; readonly dir: string; readonly kubeconfigPath: string },
  args: readonly string[],
  options: KubectlOptions = {},
): Promise<RunResult> {
  const home = path.join(plane.dir, 'helm');
  return run(path.join(plane.binDir, 'helm'), args, {
    input: options.input,
    timeoutMs: options.timeoutMs ?? 120_000,
    env: {
      ...process.env,
      KUBECONFIG: options.kubeconfigPath ?? plane.kubeconfigPath,
      HELM_CACHE_HOME: path.join(home, 'cache'),
      HELM_CONFIG_HOME: path.join(home, 'config'),
      HELM_DATA_HOME: path.join(home, 'data'),
    },
  });
}
