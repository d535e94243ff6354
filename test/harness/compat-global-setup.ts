import { mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { locateBinaries, locateCompatApiServer } from '../../src/devenv/binaries.ts';
import { provideControlPlane } from './provide-control-plane.ts';

/**
 * Vitest global setup of the compat project: the integration project's control plane, but with the
 * kube-apiserver of the oldest Kubernetes minor AKS still supports (scripts/build-compat-apiserver.sh)
 * beside the main build's etcd, kubectl and helm. Fails, naming the build command, when it is missing.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [main, compat] = await Promise.all([locateBinaries(), locateCompatApiServer()]);
  // startControlPlane takes one directory; it links the real files into its own, so this one can go at once.
  const binDir = await mkdtemp(path.join(tmpdir(), 'pod-identity-compat-bin-'));
  try {
    const links: Record<string, string> = { 'kube-apiserver': compat.kubeApiserver, etcd: main.etcd, kubectl: main.kubectl, helm: main.helm };
    for (const [file, target] of Object.entries(links)) await symlink(await realpath(target), path.join(binDir, file));
    console.log(`global-setup (${project.name}): kube-apiserver ${compat.version} (${compat.kubeApiserver})`);
    return await provideControlPlane(project, { binDir });
  } finally {
    await rm(binDir, { recursive: true, force: true });
  }
}
