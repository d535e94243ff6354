/**
 * A node's host: a long-lived holder process in the node's network namespace with a mount namespace of
 * its own, inside which kubelet, containerd and kube-proxy run (`nsenter --target <holder> --mount --net`).
 *
 * Why a holder and not `ip netns exec`: that remounts /sys for the namespace, and the cgroup hierarchies
 * under /sys/fs/cgroup vanish for whatever runs under it. Inside the holder's mount namespace (private
 * propagation, so nothing leaks to the machine):
 * - /etc and /var are overlays whose writes land in the node's dir (kubelet's hostPath `FileOrCreate`,
 *   CNI's IPAM state, logs, /etc/kubernetes/azure.json), /run is a fresh tmpfs (containerd's state and
 *   socket, pod network namespaces, /run/xtables.lock);
 * - /var/lib/kubelet and /var/lib/containerd are bind mounts of plain directories (containerd's overlay
 *   snapshots cannot live on an overlay);
 * - the kernel sysctls kubelet insists on are small files bound over their /proc/sys paths, and kubelet
 *   runs with protectKernelDefaults, so it checks them instead of writing the machine's kernel settings.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, runOk, type RunOptions, type RunResult } from '../exec.ts';
import { startProcess, type ManagedProcess } from '../process.ts';
import type { NodeLayout } from './layout.ts';

/** The values kubelet's protectKernelDefaults check expects (pkg/kubelet/cm: setupKernelTunables). */
export const KUBELET_SYSCTLS: Readonly<Record<string, string>> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

export interface NodeHost {
  /** The holder's pid (its namespaces are the node's). */
  readonly pid: number;
  /** Runs a program to completion inside the node's mount and network namespaces. */
  exec(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  execOk(file: string, args: readonly string[], options?: RunOptions): Promise<string>;
  /** Starts a long-running program there; its log is `<node dir>/<name>.log`. */
  start(name: string, file: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<ManagedProcess>;
  /** Stops the holder (and with it the mount namespace once nothing else uses it). */
  stop(): Promise<void>;
}

function mountScript(dir: string): string {
  const lines = [
    'set -eu',
    `D=${JSON.stringify(dir)}`,
    'mkdir -p "$D/etc.upper" "$D/etc.work" "$D/var.upper" "$D/var.work" "$D/kubelet" "$D/containerd" "$D/sysctl"',
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$D/etc.upper,workdir=$D/etc.work" /etc',
    'mount -t overlay overlay -o "lowerdir=/var,upperdir=$D/var.upper,workdir=$D/var.work" /var',
    'mkdir -p /var/lib/kubelet /var/lib/containerd /var/log/pods /var/log/containers',
    'mount --bind "$D/kubelet" /var/lib/kubelet',
    'mount --make-rshared /var/lib/kubelet',
    'mount --bind "$D/containerd" /var/lib/containerd',
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    'mkdir -p /run/netns /run/containerd /etc/kubernetes /etc/default /etc/cni/net.d',
    ...Object.entries(KUBELET_SYSCTLS).map(
      ([key, value]) => `printf '%s\\n' ${value} > "$D/sysctl/${key.replaceAll('/', '.')}" && mount --bind "$D/sysctl/${key.replaceAll('/', '.')}" /proc/sys/${key}`,
    ),
  ];
  return lines.join('\n');
}

export async function startNodeHost(layout: NodeLayout): Promise<NodeHost> {
  await mkdir(layout.dir, { recursive: true });
  // nsenter joins the node's network namespace only; unshare gives the holder a private mount namespace.
  const holder = await startProcess({
    name: 'holder',
    file: 'nsenter',
    args: [`--net=/run/netns/${layout.netns}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sleep', 'infinity'],
    dir: layout.dir,
  });
  const enter = (file: string, args: readonly string[]): string[] => ['--target', String(holder.pid), '--mount', '--net', '--', file, ...args];
  try {
    // The holder has unshared once its mount namespace differs from ours.
    for (let attempt = 0; ; attempt++) {
      const [ours, its] = await Promise.all([
        runOk('readlink', ['/proc/self/ns/mnt']),
        run('readlink', [`/proc/${holder.pid}/ns/mnt`]).then((r) => r.stdout),
      ]);
      if (its.trim() !== '' && its.trim() !== ours.trim()) break;
      if (attempt > 100 || holder.exit() !== undefined) throw new Error(`node ${layout.name}: holder did not start:\n${await holder.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await writeFile(path.join(layout.dir, 'mounts.sh'), mountScript(layout.dir));
    await runOk('nsenter', enter('sh', [path.join(layout.dir, 'mounts.sh')]), { timeoutMs: 30_000 });
  } catch (error) {
    await holder.stop(1_000);
    throw error;
  }
  return {
    pid: holder.pid,
    exec: (file, args, options) => run('nsenter', enter(file, args), options),
    execOk: (file, args, options) => runOk('nsenter', enter(file, args), options),
    start: (name, file, args, env) =>
      startProcess({ name, file: 'nsenter', args: enter(file, args), dir: layout.dir, ...(env === undefined ? {} : { env }) }),
    stop: () => holder.stop(1_000),
  };
}
