/**
 * The log file of `--logtostderr=false` (klog's file output): opened at start so a bad path stops the
 * process with a clear error, appended to with one write per record (or, buffered, per 4 KB / 200 ms,
 * flushed on exit), and started over beyond the size limit — `--log_file` is truncated, as klog does,
 * and a `--log_dir` file is replaced by a new klog-named one with the `<program>.INFO` symlink moved.
 * @module
 */
import { closeSync, fstatSync, openSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { klogFileName, type LogOutput } from './klog-flags.ts';

export type LogFileTarget = Extract<LogOutput, { kind: 'file' }>['target'];

/** A log file could not be opened: the message names the file and the reason. */
export class LogFileError extends Error {
  constructor(file: string, cause: unknown) {
    super(`cannot open the log file ${file} (--logtostderr=false): ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause });
    this.name = 'LogFileError';
  }
}

export interface LogFileOptions {
  readonly target: LogFileTarget;
  /** 0: no limit. */
  readonly maxBytes: number;
  /** Buffer writes (4 KB or 200 ms) instead of one write per record. */
  readonly buffered?: boolean;
  readonly now?: () => Date;
  /** Told once when a write fails (disk full, …); records are dropped rather than the process stopped. */
  readonly onWriteError?: (error: unknown) => void;
}

export interface LogFile {
  /** The file being written now (it changes when a `--log_dir` file is replaced). */
  readonly path: string;
  write(chunk: string): void;
  flushSync(): void;
  close(): void;
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

/** The path a target opens at `time`. */
export function logFilePath(target: LogFileTarget, time: Date): string {
  if (target.kind === 'file') return target.path;
  return path.join(target.dir ?? tmpdir(), klogFileName({ program: target.program, host: hostname(), user: currentUser(), pid: process.pid, time }));
}

/** Points `<program>.INFO` at `file`, as klog does; best effort (klog ignores failures too). */
function linkInfo(target: LogFileTarget, file: string): void {
  if (target.kind !== 'dir') return;
  const link = path.join(path.dirname(file), `${target.program}.INFO`);
  try {
    unlinkSync(link);
  } catch {
    // absent
  }
  try {
    symlinkSync(path.basename(file), link);
  } catch {
    // read-only directory, another process's link: the file itself is what matters
  }
}

function open(file: string, flags: 'a' | 'w'): number {
  try {
    return openSync(file, flags, 0o644);
  } catch (error) {
    throw new LogFileError(file, error);
  }
}

/** Opens the log file now; throws {@link LogFileError} when it cannot be opened. */
export function openLogFile(options: LogFileOptions): LogFile {
  const now = options.now ?? ((): Date => new Date());
  let file = logFilePath(options.target, now());
  let fd = open(file, 'a');
  let size = fstatSync(fd).size;
  linkInfo(options.target, file);
  let pending: string[] = [];
  let pendingBytes = 0;
  let failed = false;
  let closed = false;

  const writeOut = (text: string): void => {
    try {
      writeSync(fd, text);
    } catch (error) {
      if (!failed) options.onWriteError?.(error);
      failed = true;
    }
  };
  const flushSync = (): void => {
    if (pending.length === 0 || closed) return;
    const text = pending.join('');
    pending = [];
    pendingBytes = 0;
    writeOut(text);
  };
  const startOver = (): void => {
    flushSync();
    if (options.target.kind === 'file') {
      closeSync(fd);
      fd = open(file, 'w');
    } else {
      const next = logFilePath(options.target, now());
      // klog names files by the second: within the same second, keep writing to the current one.
      if (next === file) return;
      closeSync(fd);
      file = next;
      fd = open(file, 'a');
      linkInfo(options.target, file);
    }
    size = 0;
  };

  let timer: NodeJS.Timeout | undefined;
  if (options.buffered === true) {
    timer = setInterval(flushSync, 200);
    timer.unref();
    process.once('exit', flushSync);
  }
  return {
    get path() {
      return file;
    },
    write(chunk: string): void {
      if (closed) return;
      const bytes = Buffer.byteLength(chunk);
      if (options.maxBytes > 0 && size > 0 && size + bytes > options.maxBytes) {
        try {
          startOver();
        } catch (error) {
          if (!failed) options.onWriteError?.(error);
          failed = true;
          return;
        }
      }
      size += bytes;
      if (options.buffered !== true) {
        writeOut(chunk);
        return;
      }
      pending.push(chunk);
      pendingBytes += bytes;
      if (pendingBytes >= 4096) flushSync();
    },
    flushSync,
    close(): void {
      if (closed) return;
      flushSync();
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      process.removeListener('exit', flushSync);
      closeSync(fd);
    },
  };
}
