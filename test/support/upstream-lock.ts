/**
 * A stand-in for upstream aad-pod-identity's MIC in leader election, and nothing else: test/peers/upstream-lock,
 * a Go program on client-go v0.23.17 (upstream v1.8.17's version) that runs client-go's own leader
 * elector with an Endpoints lock exactly as upstream's MIC configures it. Built once from the committed
 * go.mod/go.sum and cached outside the repository, keyed by Go's version and the module's files.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { run } from '../../src/devenv/exec.ts';

const MODULE_DIR = path.join(repoRoot, 'test/peers/upstream-lock');
const HOW_TO_GET =
  'It is built with Go >= 1.26 from test/peers/upstream-lock (`cd test/peers/upstream-lock && GOTOOLCHAIN=local CGO_ENABLED=0 go build -o <dir>/upstream-lock .`, ' +
  'needs the Go module proxy once); or set POD_IDENTITY_UPSTREAM_LOCK to such a binary.';

function cacheRoot(): string {
  const explicit = process.env['POD_IDENTITY_CACHE'];
  if (explicit !== undefined && explicit !== '') return explicit;
  return path.join(process.env['XDG_CACHE_HOME'] ?? path.join(homedir(), '.cache'), 'pod-identity');
}

let located: Promise<string> | undefined;

/** The helper binary: POD_IDENTITY_UPSTREAM_LOCK, the cached build, or a new build (throws saying how to get it). */
export function locateUpstreamLock(): Promise<string> {
  located ??= locate();
  located.catch(() => {
    located = undefined;
  });
  return located;
}

async function locate(): Promise<string> {
  const explicit = process.env['POD_IDENTITY_UPSTREAM_LOCK'];
  if (explicit !== undefined && explicit !== '') {
    if (!existsSync(explicit)) throw new Error(`POD_IDENTITY_UPSTREAM_LOCK=${explicit} does not exist. ${HOW_TO_GET}`);
    return explicit;
  }
  const env = { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=readonly' };
  const version = await run('go', ['version'], { env, timeoutMs: 30_000 }).catch((error: unknown) => {
    throw new Error(`the upstream leader-election helper needs Go, which could not run (${String(error)}). ${HOW_TO_GET}`);
  });
  if (version.code !== 0) throw new Error(`go version failed: ${version.stderr}. ${HOW_TO_GET}`);
  const hash = createHash('sha256').update(version.stdout);
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(path.join(MODULE_DIR, file)));
  const dir = path.join(cacheRoot(), 'upstream-lock', hash.digest('hex').slice(0, 12));
  const binary = path.join(dir, 'upstream-lock');
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  // Build beside the target and rename: a concurrent test file never runs a half-written binary.
  const partial = `${binary}.${process.pid}.tmp`;
  const built = await run('go', ['build', '-trimpath', '-o', partial, '.'], { cwd: MODULE_DIR, env, timeoutMs: 15 * 60_000, teeStderr: true });
  if (built.code !== 0) throw new Error(`building test/peers/upstream-lock failed (exit ${built.code}):\n${built.stderr}\n${HOW_TO_GET}`);
  renameSync(partial, binary);
  return binary;
}

/** One transition line the helper printed. */
export interface UpstreamLockEvent {
  readonly event: 'started' | 'leading' | 'new-leader' | 'lost' | 'released';
  readonly identity?: string;
  readonly leader?: string;
  /** When the test process read the line (performance.now()). */
  readonly seenAt: number;
}

export interface UpstreamLockProcess {
  readonly identity: string;
  readonly child: ChildProcess;
  readonly events: readonly UpstreamLockEvent[];
  /** Resolves with the first event of this kind (already seen or still to come); rejects after `timeoutMs` or when the process exits first. */
  waitFor(event: UpstreamLockEvent['event'], timeoutMs: number): Promise<UpstreamLockEvent>;
  /** Sends `signal` and waits for the exit (SIGKILL after 5 s). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  output(): string;
}

export interface UpstreamLockOptions {
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly name?: string;
  readonly identity: string;
  readonly durationMs: number;
  /** client-go's ReleaseOnCancel on SIGTERM; upstream's MIC does not release (its default here too). */
  readonly releaseOnCancel?: boolean;
}

/** Starts the helper; it campaigns at once. */
export async function startUpstreamLock(options: UpstreamLockOptions): Promise<UpstreamLockProcess> {
  const binary = await locateUpstreamLock();
  const child = spawn(
    binary,
    [
      `--kubeconfig=${options.kubeconfig}`,
      `--leader-election-instance=${options.identity}`,
      `--leader-election-namespace=${options.namespace}`,
      `--leader-election-name=${options.name ?? 'aad-pod-identity-mic'}`,
      `--leader-election-duration=${options.durationMs}ms`,
      ...(options.releaseOnCancel === true ? ['--release-on-cancel'] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '' } },
  );
  const events: UpstreamLockEvent[] = [];
  const waiters: { event: UpstreamLockEvent['event']; resolve: (event: UpstreamLockEvent) => void }[] = [];
  let output = '';
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const parsed = { ...(JSON.parse(line) as Omit<UpstreamLockEvent, 'seenAt'>), seenAt: performance.now() };
      events.push(parsed);
      for (const waiter of waiters.filter((candidate) => candidate.event === parsed.event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(parsed);
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    identity: options.identity,
    child,
    events,
    output: () => output,
    waitFor: (event, timeoutMs) => {
      const seen = events.find((candidate) => candidate.event === event);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`upstream-lock ${options.identity}: no "${event}" within ${timeoutMs} ms; output:\n${output}`)); }, timeoutMs);
        const waiter = { event, resolve: (value: UpstreamLockEvent) => { clearTimeout(timer); resolve(value); } };
        waiters.push(waiter);
        void exited.then(() => {
          if (!waiters.includes(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`upstream-lock ${options.identity} exited before "${event}"; output:\n${output}`));
        });
      });
    },
    stop: async (signal = 'SIGTERM') => {
      if (!running()) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
