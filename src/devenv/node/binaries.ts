/**
 * What a real node needs on this machine, located or refused with how to get it (never skipped):
 * kubelet, kube-controller-manager, kube-scheduler and kube-proxy built from Go modules
 * (scripts/build-node-binaries.sh, cached), and containerd, runc, ctr, the CNI plugins, nsenter and
 * unshare from Debian packages.
 * @module
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from '../binaries.ts';
import { run } from '../exec.ts';
import { CNI_BIN_DIR } from './containerd.ts';

export interface NodeBinaries {
  readonly kubelet: string;
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
  readonly kubeProxy: string;
  /** The pod sandbox process (tools/pause). */
  readonly pause: string;
  readonly runc: string;
}

const APT_PACKAGES = 'containerd runc containernetworking-plugins util-linux podman';
export const NODE_PREREQUISITES_HINT =
  `the real-node tier needs root, cgroup v1 hierarchies, Debian packages (apt-get install ${APT_PACKAGES}) and the Kubernetes node binaries ` +
  '(bash scripts/build-node-binaries.sh, cached outside the repo; POD_IDENTITY_NODE_BINARIES names a directory that has them); .ci/run installs and builds all of it';

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function which(program: string): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir !== '' && (await executable(path.join(dir, program)))) return path.join(dir, program);
  }
  return undefined;
}

/** Checks the machine and builds (or finds cached) the Go binaries; throws naming everything missing. */
export async function locateNodeBinaries(): Promise<NodeBinaries> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push(`root (running as uid ${process.getuid?.() ?? '?'})`);
  const found: Record<string, string> = {};
  for (const program of ['containerd', 'ctr', 'runc', 'nsenter', 'unshare', 'podman', 'ip', 'iptables']) {
    const file = await which(program);
    if (file === undefined) missing.push(program);
    else found[program] = file;
  }
  for (const plugin of ['bridge', 'host-local', 'loopback', 'portmap']) {
    if (!(await executable(path.join(CNI_BIN_DIR, plugin)))) missing.push(`${CNI_BIN_DIR}/${plugin}`);
  }
  if (missing.length > 0) throw new Error(`missing: ${missing.join(', ')}. ${NODE_PREREQUISITES_HINT}`);
  const script = path.join(repoRoot, 'scripts/build-node-binaries.sh');
  const built = await run('bash', [script], { timeoutMs: 30 * 60_000, teeStderr: true });
  if (built.code !== 0) throw new Error(`${script} failed (${built.code}):\n${built.stderr}\n${NODE_PREREQUISITES_HINT}`);
  const dir = built.stdout.trim().split('\n').at(-1) ?? '';
  return {
    kubelet: path.join(dir, 'kubelet'),
    kubeControllerManager: path.join(dir, 'kube-controller-manager'),
    kubeScheduler: path.join(dir, 'kube-scheduler'),
    kubeProxy: path.join(dir, 'kube-proxy'),
    pause: path.join(dir, 'pause'),
    runc: found['runc'] ?? 'runc',
  };
}
