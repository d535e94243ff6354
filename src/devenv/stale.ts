import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Every control plane's dirs are named `pod-identity-cp-<owner pid>-<random>`, so a later run can tell
// leftovers of a crashed run (owner pid dead) from planes of runs still in progress.
const PREFIX = 'pod-identity-cp-';
const SHM = '/dev/shm';

export function newPlaneName(): string {
  return `${PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Where a plane's temp dir lives, and its tmpfs dir for etcd data (fsync-free and fast) when available. */
export function planeRoots(): { tmp: string; shm: string } {
  const tmp = tmpdir();
  return { tmp, shm: existsSync(SHM) ? SHM : tmp };
}

function isAlive(pid: number): boolean {
  // A killed owner can linger as a zombie until its new parent reaps it; kill(pid, 0) succeeds on
  // zombies, so look at the state in /proc first.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    // No /proc entry (or no /proc): fall back to signal 0.
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills a pid from a pidfile only if its command line still mentions the plane (pids get reused). */
async function killIfOurs(pid: number, planeName: string): Promise<void> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes(planeName)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * Removes control planes left behind by earlier runs whose owning process is dead: kills their etcd
 * and kube-apiserver (found through pidfiles) and deletes their dirs. Planes of live runs are kept.
 */
export async function cleanupStale(): Promise<string[]> {
  const removed: string[] = [];
  const { tmp, shm } = planeRoots();
  // tmp first: it holds the pidfiles, so processes die before their data dirs on /dev/shm go.
  for (const root of [...new Set([tmp, shm])]) {
    const entries = await readdir(root).catch(() => [] as string[]);
    for (const name of entries) {
      const owner = /^pod-identity-cp-(\d+)-/.exec(name)?.[1];
      if (owner === undefined || Number(owner) === process.pid || isAlive(Number(owner))) continue;
      const dir = path.join(root, name);
      const files = await readdir(dir).catch(() => [] as string[]);
      for (const f of files.filter((n) => n.endsWith('.pid'))) {
        const pid = Number((await readFile(path.join(dir, f), 'utf8').catch(() => '')).trim());
        if (Number.isInteger(pid) && pid > 0) await killIfOurs(pid, name.replace(/-etcd$/, ''));
      }
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}

/** What the exit handlers need from a running plane. */
export interface Stoppable {
  killSync(): void;
  readonly dirs: readonly string[];
}

const live = new Set<Stoppable>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installedExit = false;
let installedSignals = false;

function killAllSync(): void {
  for (const p of live) {
    p.killSync();
    for (const d of p.dirs) rmSync(d, { recursive: true, force: true });
  }
  live.clear();
}

function onSignal(sig: NodeJS.Signals): void {
  killAllSync();
  process.off(sig, onSignal);
  // Our listener suppressed the default action; re-raise it unless someone else (vitest) handles it.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

/**
 * Tracks a plane so it is torn down when this process exits or is interrupted. With `signals: false`
 * only the exit handler is installed: the caller handles SIGINT/SIGTERM itself and stops the plane in
 * order (the sandbox stops MIC and NMI before the API server they talk to).
 */
export function track(p: Stoppable, options: { readonly signals?: boolean } = {}): () => void {
  if (!installedExit) {
    installedExit = true;
    process.on('exit', killAllSync);
  }
  if (options.signals !== false && !installedSignals) {
    installedSignals = true;
    for (const s of SIGNALS) process.on(s, onSignal);
  }
  live.add(p);
  return () => live.delete(p);
}
