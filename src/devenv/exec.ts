import { spawn } from 'node:child_process';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Also forward stderr to ours as it arrives (progress of long builds). */
  readonly teeStderr?: boolean;
}

/**
 * Runs a program without a shell and collects its output. Never rejects on a non-zero exit (callers
 * assert on `code`), only when the program cannot be started or exceeds its timeout.
 */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      if (options.teeStderr === true) process.stderr.write(b);
    });
    child.on('error', (e) => {
      reject(new Error(`${file} ${args.join(' ')}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal === null ? -1 : 128),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    // A program that exits before reading stdin would otherwise surface EPIPE as an unhandled error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Like `run`, but rejects with the program's stderr when it exits non-zero. */
export async function runOk(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const r = await run(file, args, options);
  if (r.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}
