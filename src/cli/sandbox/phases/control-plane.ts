/**
 * Phase "etcd + kube-apiserver": a control plane of the sandbox's own (src/devenv/control-plane.ts),
 * stopped by the sandbox's teardown rather than on signals, and its admin kubeconfig copied into the
 * sandbox dir, where the "Poke at it" lines point.
 * @module
 */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../../devenv/control-plane.ts';
import type { KubeAccess } from '../../../kube/access.ts';
import { cliKubeAccess } from '../../kube-access.ts';
import type { Teardown } from '../steps.ts';

/** Starts etcd and kube-apiserver and registers their stop. */
export async function startSandboxControlPlane(teardown: Teardown): Promise<ControlPlane> {
  const plane = await startControlPlane({ killOnSignal: false });
  teardown.add('stopping etcd and kube-apiserver', () => plane.stop());
  return plane;
}

/** The kubeconfig in the sandbox dir, and the CLI's access to the API server through it. */
export interface SandboxKube {
  readonly kubeconfigPath: string;
  readonly kube: KubeAccess;
}

export async function sandboxKube(plane: ControlPlane, dir: string): Promise<SandboxKube> {
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  await copyFile(plane.kubeconfigPath, kubeconfigPath);
  const loaded = new KubeConfig();
  loaded.loadFromFile(kubeconfigPath);
  return { kubeconfigPath, kube: cliKubeAccess(loaded) };
}
