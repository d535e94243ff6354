/**
 * A node's kubelet (and kube-proxy) inside its host (host.ts). The settings that differ from a stock
 * node, each needed on this machine: cgroup v1 allowed (`failCgroupV1: false`, kubelet ≥ 1.35), the
 * cgroupfs driver under a per-node cgroupRoot, protectKernelDefaults (kernel sysctls are checked, never
 * written), no swap check, tiny eviction thresholds (a shared disk), a resolv.conf pointing nowhere
 * outside the cluster, and the providerID of the node's simulated VM or scale-set instance.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { ManagedProcess } from '../process.ts';
import { CONTAINERD_SOCKET } from './containerd.ts';
import type { NodeHost } from './host.ts';
import { CLUSTER_GATEWAY, POD_NETWORK, type NodeLayout } from './layout.ts';

export interface KubeletSettings {
  readonly kubelet: string;
  readonly kubeconfig: string;
  readonly clientCaFile: string;
  readonly providerId?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** `key=value:Effect` taints the node registers with. */
  readonly registerWithTaints?: readonly string[];
}

export function kubeletConfig(layout: NodeLayout, settings: KubeletSettings): Record<string, unknown> {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${layout.cgroupRoot}`,
    containerRuntimeEndpoint: `unix://${CONTAINERD_SOCKET}`,
    address: layout.ip,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: settings.clientCaFile } },
    authorization: { mode: 'Webhook' },
    clusterDomain: 'cluster.local',
    // No cluster DNS: pods get this file, whose only server is the hub (nothing answers; no lookup leaves the cluster).
    resolvConf: path.join(layout.dir, 'resolv.conf'),
    protectKernelDefaults: true,
    failSwapOn: false,
    serializeImagePulls: false,
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    maxPods: 40,
    ...(settings.providerId === undefined ? {} : { providerID: settings.providerId }),
    ...(settings.registerWithTaints === undefined || settings.registerWithTaints.length === 0
      ? {}
      : {
          registerWithTaints: settings.registerWithTaints.map((taint) => {
            const m = /^([^=:]+)(?:=([^:]*))?:(\w+)$/.exec(taint);
            if (m === null) throw new Error(`taint ${taint}: expected key=value:Effect`);
            return { key: m[1], ...(m[2] === undefined ? {} : { value: m[2] }), effect: m[3] };
          }),
        }),
  };
}

export async function startKubelet(host: NodeHost, layout: NodeLayout, settings: KubeletSettings): Promise<ManagedProcess> {
  const configFile = path.join(layout.dir, 'kubelet.yaml');
  await writeFile(configFile, stringify(kubeletConfig(layout, settings)));
  await writeFile(path.join(layout.dir, 'resolv.conf'), `nameserver ${CLUSTER_GATEWAY}\noptions ndots:1 timeout:1 attempts:1\n`);
  const labels = Object.entries(settings.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return host.start('kubelet', settings.kubelet, [
    `--config=${configFile}`,
    `--kubeconfig=${settings.kubeconfig}`,
    `--hostname-override=${layout.name}`,
    `--node-ip=${layout.ip}`,
    '--v=1',
    ...(labels.length === 0 ? [] : [`--node-labels=${labels.join(',')}`]),
  ]);
}

export interface KubeProxySettings {
  readonly kubeProxy: string;
  readonly kubeconfig: string;
}

export async function startKubeProxy(host: NodeHost, layout: NodeLayout, settings: KubeProxySettings): Promise<ManagedProcess> {
  const configFile = path.join(layout.dir, 'kube-proxy.yaml');
  await writeFile(
    configFile,
    stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: settings.kubeconfig },
      mode: 'iptables',
      clusterCIDR: POD_NETWORK,
      hostnameOverride: layout.name,
      bindAddress: layout.ip,
      healthzBindAddress: '127.0.0.1:10256',
      metricsBindAddress: '127.0.0.1:10249',
      // Machine-wide conntrack settings stay as they are.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      iptables: { localhostNodePorts: false },
    }),
  );
  return host.start('kube-proxy', settings.kubeProxy, [`--config=${configFile}`, '--v=1']);
}
