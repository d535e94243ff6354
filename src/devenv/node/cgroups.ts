/**
 * A node's cgroup (v1) root: kubelet (cgroupDriver cgroupfs, cgroupRoot) puts its kubepods hierarchy
 * under it, so two nodes on one machine never share QoS cgroups, and cleanup can find every container
 * process a node started (pod-network containers are in no namespace of ours).
 * @module
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CGROUP_MOUNT = '/sys/fs/cgroup';

/** The v1 hierarchies mounted on this machine (cpu, memory, pids, name=systemd …; not cgroup2). */
async function hierarchies(): Promise<string[]> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  return mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[fields.indexOf('-') + 1] === 'cgroup' && fields[4]?.startsWith(`${CGROUP_MOUNT}/`) === true)
    .map((fields) => fields[4] ?? '');
}

/** Fails with what to do when the machine has no cgroup v1 hierarchies (kubelet here is configured for v1). */
export async function assertCgroupV1(): Promise<void> {
  if ((await hierarchies()).length === 0) {
    throw new Error(
      `the real-node tier expects cgroup v1 (hybrid) hierarchies under ${CGROUP_MOUNT}, as on this project's machines; ` +
        'on a cgroup v2-only host, kubelet needs cgroupDriver/failCgroupV1 changes in src/devenv/node/kubelet.ts',
    );
  }
}

export async function createCgroupRoot(name: string): Promise<void> {
  for (const hierarchy of await hierarchies()) {
    const dir = path.join(hierarchy, name);
    await mkdir(dir, { recursive: true });
    // A new cpuset takes no tasks until it has CPUs and memory nodes: inherit the parent's.
    if (path.basename(hierarchy).split(',').includes('cpuset')) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        await writeFile(path.join(dir, file), await readFile(path.join(hierarchy, file), 'utf8'));
      }
    }
  }
}

async function subtree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const children = await Promise.all(entries.filter((e) => e.isDirectory()).map((e) => subtree(path.join(dir, e.name))));
  return [...children.flat(), dir];
}

async function processesIn(dirs: readonly string[]): Promise<number[]> {
  const pids = await Promise.all(dirs.map(async (dir) => (await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n')));
  return [...new Set(pids.flat().filter((p) => /^\d+$/.test(p)).map(Number))];
}

/** Kills every process left in the node's cgroups and removes them (deepest first). Idempotent. */
export async function removeCgroupRoot(name: string): Promise<void> {
  const roots = (await hierarchies()).map((h) => path.join(h, name)).filter((dir) => existsSync(dir));
  for (let attempt = 0; attempt < 50 && roots.some((dir) => existsSync(dir)); attempt++) {
    const dirs = (await Promise.all(roots.map((root) => subtree(root)))).flat();
    for (const pid of await processesIn(dirs)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    // Deepest first: subtree() lists children before their parent.
    for (const dir of dirs) await rmdir(dir).catch(() => undefined);
    if (roots.some((dir) => existsSync(dir))) await sleep(100);
  }
  const left = roots.filter((dir) => existsSync(dir));
  if (left.length > 0) throw new Error(`cgroups not removable (processes still in them?): ${left.join(', ')}`);
}

/** Names of node cgroup roots (`pi-<run>-node<i>`) present on the machine, for leftover clean-up. */
export async function nodeCgroupRoots(): Promise<string[]> {
  const names = new Set<string>();
  for (const hierarchy of await hierarchies()) {
    for (const entry of await readdir(hierarchy).catch(() => [])) if (/^pi-[0-9a-f]{6}-node\d+$/.test(entry)) names.add(entry);
  }
  return [...names];
}
