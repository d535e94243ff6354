/**
 * Network-namespace topology for e2e tests and `pod-identity sandbox` (docs/testing.md, docs/sandbox.md): one node namespace and
 * N pod namespaces, each pod joined to the node by a veth pair created directly between the two
 * namespaces, so the root namespace never gets a link, address, route or rule. `169.254.169.254/32`
 * is on the node namespace's `lo` only. Root-namespace loopback services are made reachable inside a
 * namespace through a unix-socket forwarder ({@link NetnsTopology.expose}).
 *
 * Names carry a fixed prefix and a run id (`pi-<run>-node`, `pi-<run>-pod0`, veth `pi<run>p0`); an
 * owner file records the pid of the test process, so {@link removeLeftoverNamespaces} removes what
 * crashed runs left without touching a run that is still going.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runOk, type RunOptions, type RunResult } from './exec.ts';
import { startProcess, type ManagedProcess } from './process.ts';
import { listenUnixRelay, type UnixRelay } from './unix-relay.ts';

export const NETNS_PREFIX = 'pi-';
const RUN_NAME = /^pi-([0-9a-f]{6})-/;
export const OWNERS_DIR = path.join(os.tmpdir(), 'pod-identity-netns');
export const IMDS_IP = '169.254.169.254';
// Sources run as .ts (type stripping); the build (tsconfig.build.json) emits netns-forward.js next to us.
export const FORWARD_SCRIPT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './netns-forward.ts' : './netns-forward.js', import.meta.url));

export interface PodNamespace {
  readonly name: string;
  /** The pod's address on its `eth0`. */
  readonly ip: string;
  /** The node side of the pod's veth (the pod's default gateway). */
  readonly gateway: string;
  /** Name of the node-side veth interface (in the node namespace). */
  readonly nodeInterface: string;
}

export interface Exposure {
  readonly listenHost: string;
  readonly listenPort: number;
  /** Stops the in-namespace listener and the root-side forwarder. */
  close(): Promise<void>;
}

export interface ExposeOptions {
  /** Address and port to listen on inside the namespace (e.g. 127.0.0.1 and the target's port). */
  readonly listenHost: string;
  readonly listenPort: number;
  /** A root-namespace loopback service. */
  readonly target: { readonly host: string; readonly port: number };
}

export interface NetnsTopology {
  readonly runId: string;
  readonly node: string;
  readonly pods: readonly PodNamespace[];
  /** Logs, pidfiles and unix sockets of this run. */
  readonly dir: string;
  /** Runs a program to completion inside `ns` (`ip netns exec`). */
  exec(ns: string, file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Like {@link exec} but rejects on a non-zero exit; resolves with stdout. */
  execOk(ns: string, file: string, args: readonly string[], options?: RunOptions): Promise<string>;
  /** Starts a long-running program inside `ns`; it is killed at cleanup. Log: `<dir>/<name>.log`. */
  start(ns: string, name: string, file: string, args: readonly string[]): Promise<ManagedProcess>;
  /** Makes a root-namespace loopback service reachable inside `ns` at listenHost:listenPort. */
  expose(ns: string, options: ExposeOptions): Promise<Exposure>;
  /** Kills every process started here, deletes the namespaces (and with them the veths). Idempotent. */
  cleanup(): Promise<void>;
}

export interface TopologyOptions {
  readonly pods: number;
  /** Pod i gets 10.244.<firstSubnet + i>.5/24, gateway .1. Default 1. */
  readonly firstSubnet?: number;
}

/** Fails with what is missing when the machine cannot run e2e tests (never skips). */
/** What a run may touch in the root namespace only through reads: its nat table and its links. */
export interface RootNamespaceSnapshot {
  readonly nat: string;
  readonly links: readonly string[];
}

/** Read-only view of the root namespace, to prove a run changed nothing there (compare before/after). */
export async function rootNamespaceSnapshot(): Promise<RootNamespaceSnapshot> {
  const nat = await runOk('iptables', ['-w', '5', '-t', 'nat', '-S']);
  const links = (await runOk('ip', ['-o', 'link', 'show']))
    .split('\n')
    .map((line) => /^\d+: ([^:@]+)[:@]/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
  return { nat, links };
}

/** An Error naming what changed in the root namespace since `before` (nat table, links); undefined when nothing did. */
export async function rootNamespaceChange(before: RootNamespaceSnapshot): Promise<Error | undefined> {
  const after = await rootNamespaceSnapshot();
  if (after.nat === before.nat && after.links.join() === before.links.join()) return undefined;
  return new Error(`the root namespace changed:\n${JSON.stringify(before)}\n${JSON.stringify(after)}`);
}

export async function assertNetnsPrerequisites(): Promise<void> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push(`root (running as uid ${process.getuid?.() ?? '?'})`);
  for (const [program, args] of [['ip', ['-V']], ['iptables', ['-V']], ['iptables-restore', ['-V']], ['conntrack', ['-V']]] as const) {
    const result = await run(program, args, { timeoutMs: 10_000 }).catch(() => undefined);
    if (result?.code !== 0) missing.push(`${program} on PATH`);
  }
  if (missing.length > 0) {
    throw new Error(
      `e2e tests need ${missing.join(', ')}. Run them as root on Linux with iproute2, iptables (with iptables-restore) and ` +
        'conntrack-tools installed (Debian/Ubuntu: apt-get install iproute2 iptables conntrack); CI (.ci/run) does.',
    );
  }
}

/** Runs `<node> <script> …args` (the Node running the tests, so TypeScript runs the same way). */
export function nodeCommand(script: string, args: readonly string[] = []): [string, string[]] {
  return [process.execPath, [script, ...args]];
}

async function listNamespaces(): Promise<string[]> {
  const out = await runOk('ip', ['netns', 'list'], { timeoutMs: 10_000 });
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills whatever still runs inside `ns` (only ever our own test namespaces), then deletes it. */
export async function deleteNamespace(ns: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', ns], { timeoutMs: 10_000 });
  for (const pid of pids.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const result = await run('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
  if (result.code !== 0 && !/No such file/.test(result.stderr)) throw new Error(`ip netns del ${ns}: ${result.stderr}`);
}

/** Whether the process that made run `runId` (its owner file) is still running. */
export async function ownerAlive(runId: string): Promise<boolean> {
  const owner = Number((await readFile(path.join(OWNERS_DIR, runId), 'utf8').catch(() => '')).trim());
  return owner > 0 && alive(owner);
}

/** Removes namespaces of earlier runs whose test process is gone; returns their names. */
export async function removeLeftoverNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await listNamespaces()) {
    const runId = RUN_NAME.exec(ns)?.[1];
    if (runId === undefined) continue;
    if (await ownerAlive(runId)) continue;
    await deleteNamespace(ns);
    removed.push(ns);
  }
  // Owner files and log directories of runs that are over.
  const remaining = new Set((await listNamespaces()).map((ns) => RUN_NAME.exec(ns)?.[1]));
  const live = async (runId: string): Promise<boolean> => {
    return remaining.has(runId) || (await ownerAlive(runId));
  };
  for (const entry of await readdir(os.tmpdir()).catch(() => [])) {
    const runId = RUN_NAME.exec(entry)?.[1];
    if (runId !== undefined && !(await live(runId))) await rm(path.join(os.tmpdir(), entry), { recursive: true, force: true });
  }
  for (const file of await readdir(OWNERS_DIR).catch(() => [])) {
    if (!(await live(file))) await rm(path.join(OWNERS_DIR, file), { force: true });
  }
  return removed;
}

/** Polls a process's log until a line satisfies `match` (bounded); fails early if the process exits. */
export async function waitForLogLine(proc: ManagedProcess, match: (line: string) => boolean, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 10_000 && Date.now() < deadline; attempt++) {
    const text = await readFile(proc.logPath, 'utf8').catch(() => '');
    const line = text.split('\n').find(match);
    if (line !== undefined) return line;
    if (proc.exit() !== undefined) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${proc.name}: expected log line not seen (exit ${JSON.stringify(proc.exit())}):\n${await proc.tail()}`);
}

/** Builds the topology; on any failure it removes what it made before rethrowing. */
export async function createTopology(options: TopologyOptions): Promise<NetnsTopology> {
  await removeLeftoverNamespaces();
  const runId = randomBytes(3).toString('hex');
  mkdirSync(OWNERS_DIR, { recursive: true });
  await writeFile(path.join(OWNERS_DIR, runId), `${process.pid}\n`);
  const dir = await mkdtemp(path.join(os.tmpdir(), `pi-${runId}-`));
  const node = `pi-${runId}-node`;
  const firstSubnet = options.firstSubnet ?? 1;
  const pods: PodNamespace[] = Array.from({ length: options.pods }, (_, i) => ({
    name: `pi-${runId}-pod${i}`,
    ip: `10.244.${firstSubnet + i}.5`,
    gateway: `10.244.${firstSubnet + i}.1`,
    nodeInterface: `pi${runId}p${i}`,
  }));
  const created: string[] = [];
  const processes = new Set<ManagedProcess>();
  const relays = new Set<UnixRelay>();

  // Last resort when the test process exits without cleanup (vitest worker torn down).
  const onExit = (): void => {
    for (const proc of processes) proc.killSync();
    for (const ns of created) spawnSync('ip', ['netns', 'del', ns], { timeout: 5_000 });
  };
  process.once('exit', onExit);

  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleaning ??= (async () => {
      await Promise.all([...processes].map((proc) => proc.stop(2_000)));
      await Promise.all([...relays].map((relay) => relay.close()));
      const errors: unknown[] = [];
      for (const ns of created.reverse()) await deleteNamespace(ns).catch((error: unknown) => errors.push(error));
      process.off('exit', onExit);
      await rm(path.join(OWNERS_DIR, runId), { force: true });
      if (process.env['PI_KEEP_NETNS_LOGS'] !== 'true') await rm(dir, { recursive: true, force: true });
      if (errors.length > 0) throw new AggregateError(errors, 'netns cleanup failed');
    })();
    return cleaning;
  };

  const ip = (args: string[]): Promise<string> => runOk('ip', args, { timeoutMs: 10_000 });
  try {
    for (const ns of [node, ...pods.map((pod) => pod.name)]) {
      await ip(['netns', 'add', ns]);
      created.push(ns);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await ip(['-n', node, 'addr', 'add', `${IMDS_IP}/32`, 'dev', 'lo']);
    for (const pod of pods) {
      // Created inside the node namespace with its peer straight into the pod: nothing in root.
      await ip(['-n', node, 'link', 'add', pod.nodeInterface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name]);
      await ip(['-n', node, 'addr', 'add', `${pod.gateway}/24`, 'dev', pod.nodeInterface]);
      await ip(['-n', node, 'link', 'set', pod.nodeInterface, 'up']);
      await ip(['-n', pod.name, 'addr', 'add', `${pod.ip}/24`, 'dev', 'eth0']);
      await ip(['-n', pod.name, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', pod.name, 'route', 'add', 'default', 'via', pod.gateway]);
    }
  } catch (error) {
    await cleanup().catch(() => undefined);
    throw error;
  }

  let processCount = 0;
  const start = async (ns: string, name: string, file: string, args: readonly string[]): Promise<ManagedProcess> => {
    const proc = await startProcess({ name: `${name}-${processCount++}`, file: 'ip', args: ['netns', 'exec', ns, file, ...args], dir });
    processes.add(proc);
    void proc.exited.then(() => processes.delete(proc));
    return proc;
  };

  let exposures = 0;
  const expose = async (ns: string, exposeOptions: ExposeOptions): Promise<Exposure> => {
    const relay = await listenUnixRelay(path.join(dir, `fwd${exposures++}.sock`), exposeOptions.target);
    relays.add(relay);
    const [file, args] = nodeCommand(FORWARD_SCRIPT, ['--listen', `${exposeOptions.listenHost}:${exposeOptions.listenPort}`, '--unix', relay.socketPath]);
    const proc = await start(ns, `forward-${exposeOptions.listenHost}-${exposeOptions.listenPort}`, file, args);
    try {
      await waitForLogLine(proc, (line) => line.includes('"event":"listening"'));
    } catch (error) {
      await relay.close();
      throw error;
    }
    return {
      listenHost: exposeOptions.listenHost,
      listenPort: exposeOptions.listenPort,
      async close() {
        await proc.stop(2_000);
        await relay.close();
        relays.delete(relay);
      },
    };
  };

  return {
    runId,
    node,
    pods,
    dir,
    exec: (ns, file, args, runOptions) => run('ip', ['netns', 'exec', ns, file, ...args], runOptions),
    execOk: (ns, file, args, runOptions) => runOk('ip', ['netns', 'exec', ns, file, ...args], runOptions),
    start,
    expose,
    cleanup,
  };
}
