import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** The spawned process (for a wrapper such as `ip netns exec`, the wrapper): for signals other than stop's. */
  readonly child: ChildProcess;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<Exit>;
  /** The exit, once it happened. */
  exit(): Exit | undefined;
  /** Last lines of the log, for error messages. */
  tail(lines?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** For exit handlers, which cannot wait. */
  killSync(): void;
}

export interface StartOptions {
  readonly name: string;
  readonly file: string;
  readonly args: readonly string[];
  /** Holds `<name>.log` and `<name>.pid` (the pidfile lets cleanupStale kill us after a crash). */
  readonly dir: string;
  /** Environment of the child; default this process's. */
  readonly env?: NodeJS.ProcessEnv;
}

const attach = (): boolean => process.env['KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT'] === 'true';

/** Starts a long-running child with its output going to a log file (appended, so restarts keep history). */
export async function startProcess(options: StartOptions): Promise<ManagedProcess> {
  const logPath = path.join(options.dir, `${options.name}.log`);
  const pidPath = path.join(options.dir, `${options.name}.pid`);
  const streaming = attach();
  // Without streaming the child writes to the file itself, so the log stays complete even if we die.
  const fd = streaming ? undefined : openSync(logPath, 'a');
  const child = spawn(options.file, options.args, {
    stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'],
    env: options.env ?? process.env,
  });
  if (fd !== undefined) closeSync(fd);
  if (streaming) {
    const log = createWriteStream(logPath, { flags: 'a' });
    const prefix = `[${options.name}] `;
    for (const s of [child.stdout, child.stderr]) {
      s?.on('data', (b: Buffer) => {
        log.write(b);
        process.stderr.write(prefix + b.toString('utf8').replace(/\n(?=.)/g, `\n${prefix}`));
      });
    }
    child.on('close', () => log.end());
  }

  let exitInfo: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.on('error', (e) => {
      exitInfo = { code: -1, signal: null };
      process.stderr.write(`${options.name}: ${e.message}\n`);
      resolve(exitInfo);
    });
  });
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new Error(`could not start ${options.file}`);
  }
  await writeFile(pidPath, `${pid}\n`);

  let stopping: Promise<void> | undefined;
  const proc: ManagedProcess = {
    name: options.name,
    pid,
    logPath,
    child,
    exited,
    exit: () => exitInfo,
    async tail(lines = 40) {
      const text = await readFile(logPath, 'utf8').catch(() => '');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    },
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        if (exitInfo === undefined) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(timer);
        }
        await rm(pidPath, { force: true });
      })();
      return stopping;
    },
    killSync() {
      if (exitInfo === undefined) child.kill('SIGKILL');
    },
  };
  return proc;
}

/**
 * The pid of the Node process (this Node binary) whose command line has `argument`: for processes
 * started through a wrapper such as `ip netns exec`, whose own pid is not the program's.
 */
export function pidWithArgument(argument: string): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args[0] === process.execPath && args.includes(argument)) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`no process with ${argument}`);
}
