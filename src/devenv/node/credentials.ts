/**
 * Client-certificate kubeconfigs for the cluster's components (kubelet as `system:node:<name>`,
 * kube-proxy, controller manager, scheduler), signed by the control plane's CA, each pointing at the
 * address the component dials the API server by.
 * @module
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { caFiles, issueClientCert } from '../certs.ts';
import type { ControlPlaneInfo } from '../description.ts';
import { writeKubeconfig } from '../kubeconfig.ts';

export async function componentKubeconfig(
  plane: Pick<ControlPlaneInfo, 'dir' | 'caPem'>,
  options: { readonly server: string; readonly user: string; readonly groups?: readonly string[]; readonly stem: string },
): Promise<string> {
  const pair = await issueClientCert(caFiles(plane.dir), options.stem, options.user, options.groups ?? []);
  const [certPem, keyPem] = await Promise.all([readFile(pair.certPath, 'utf8'), readFile(pair.keyPath, 'utf8')]);
  return writeKubeconfig(`${options.stem}.kubeconfig`, { server: options.server, caPem: plane.caPem }, options.user, { kind: 'cert', certPem, keyPem });
}

/** The CA file of the plane (kubelets verify client certificates of the API server against it). */
export function clusterCaFile(plane: Pick<ControlPlaneInfo, 'dir'>): string {
  return caFiles(plane.dir).certPath;
}

/** The ServiceAccount signing key the API server was started with (the controller manager signs with it too). */
export function serviceAccountKeyFile(plane: Pick<ControlPlaneInfo, 'dir'>): string {
  return path.join(plane.dir, 'sa.key');
}
