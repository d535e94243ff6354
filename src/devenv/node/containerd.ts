/**
 * A node's container runtime: containerd (CRI) with runc and the CNI bridge, inside the node's host
 * (host.ts). Settings this machine needs, each measured (docs/testing.md, Real node): runc (crun fails
 * here), cgroupfs (no systemd), `restrict_oom_score_adj` (no CAP_SYS_RESOURCE), CNI plugins from
 * Debian's containernetworking-plugins. Images come from a file (`ctr images import`), never a registry.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagedProcess } from '../process.ts';
import type { NodeHost } from './host.ts';
import type { NodeLayout } from './layout.ts';

export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
export const CNI_BIN_DIR = '/usr/lib/cni';

export interface ContainerdSettings {
  /** The sandbox ("pause") image, already imported or imported before the first pod. */
  readonly pauseImage: string;
  readonly runc: string;
}

export function containerdConfig(settings: ContainerdSettings): string {
  return `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "${CONTAINERD_SOCKET}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${settings.pauseImage}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "${settings.runc}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "/etc/cni/net.d"
`;
}

/** A bridge with host-local addresses for the node's pod subnet; pods' traffic leaving it is masqueraded. */
export function cniConfig(layout: NodeLayout): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'pod-identity-devenv',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: layout.podSubnet }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface Containerd {
  readonly process: ManagedProcess;
  /** `ctr -n k8s.io …` against this node's containerd. */
  ctr(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** Imports a `podman save --format docker-archive` file; the image keeps its name (e.g. localhost/x:1). */
  importImage(archive: string): Promise<void>;
}

export async function startContainerd(host: NodeHost, layout: NodeLayout, settings: ContainerdSettings): Promise<Containerd> {
  const configFile = path.join(layout.dir, 'containerd.toml');
  await writeFile(configFile, containerdConfig(settings));
  await host.execOk('sh', ['-c', `cat > /etc/cni/net.d/10-pod-identity.conflist`], { input: cniConfig(layout) });
  const proc = await host.start('containerd', 'containerd', ['--config', configFile, '--log-level', 'warn']);
  const ctr = (args: readonly string[], timeoutMs = 60_000): Promise<string> =>
    host.execOk('ctr', ['--address', CONTAINERD_SOCKET, '--namespace', 'k8s.io', ...args], { timeoutMs });
  for (let attempt = 0; ; attempt++) {
    if (proc.exit() !== undefined) throw new Error(`containerd on ${layout.name} exited:\n${await proc.tail()}`);
    const version = await host.exec('ctr', ['--address', CONTAINERD_SOCKET, 'version'], { timeoutMs: 5_000 }).catch(() => undefined);
    if (version?.code === 0) break;
    if (attempt > 150) throw new Error(`containerd on ${layout.name} did not answer within 30 s:\n${await proc.tail()}`);
    await sleep(200);
  }
  return {
    process: proc,
    ctr,
    async importImage(archive) {
      await ctr(['images', 'import', archive], 300_000);
    },
  };
}
