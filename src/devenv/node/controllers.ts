/**
 * kube-controller-manager and kube-scheduler beside the API server (root namespace, loopback): the
 * controllers a real cluster runs (Deployments → ReplicaSets → Pods, DaemonSets, ServiceAccounts and the
 * kube-root-ca.crt ConfigMap, garbage collection, EndpointSlices, node lifecycle) and scheduling.
 * @module
 */
import path from 'node:path';
import type { ControlPlaneInfo } from '../description.ts';
import { freePorts } from '../ports.ts';
import { startProcess, type ManagedProcess } from '../process.ts';
import { clusterCaFile, componentKubeconfig, serviceAccountKeyFile } from './credentials.ts';
import { POD_NETWORK } from './layout.ts';

export interface ControllerBinaries {
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
}

export async function startControllers(
  plane: Pick<ControlPlaneInfo, 'dir' | 'caPem' | 'server'>,
  binaries: ControllerBinaries,
  dir: string,
): Promise<ManagedProcess[]> {
  const [kcmKubeconfig, schedulerKubeconfig] = await Promise.all([
    componentKubeconfig(plane, { server: plane.server, user: 'system:kube-controller-manager', stem: path.join(dir, 'kube-controller-manager') }),
    componentKubeconfig(plane, { server: plane.server, user: 'system:kube-scheduler', stem: path.join(dir, 'kube-scheduler') }),
  ]);
  const [kcmPort, schedulerPort] = (await freePorts(2)) as [number, number];
  // What both components share: their identity for the API and for their own endpoint, on loopback, alone.
  const common = (kubeconfig: string, port: number): string[] => [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    '--leader-elect=false',
    '--v=1',
  ];
  const kcm = await startProcess({
    name: 'kube-controller-manager',
    file: binaries.kubeControllerManager,
    args: [
      ...common(kcmKubeconfig, kcmPort),
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${serviceAccountKeyFile(plane)}`,
      `--root-ca-file=${clusterCaFile(plane)}`,
      `--cluster-cidr=${POD_NETWORK}`,
      // Nodes get their pod subnets from their CNI config (layout.ts), not from the controller.
      '--allocate-node-cidrs=false',
    ],
    dir,
  });
  const scheduler = await startProcess({
    name: 'kube-scheduler',
    file: binaries.kubeScheduler,
    args: common(schedulerKubeconfig, schedulerPort),
    dir,
  });
  return [kcm, scheduler];
}
