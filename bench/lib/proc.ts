/**
 * What /proc says about a child process: CPU time, RSS, and RSS by kind of page (smaps_rollup).
 * Parsers are pure (unit-tested); readers are one line each.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = 100;
const KB_PER_MB = 1024;

export interface ProcessStats {
  readonly cpuSeconds: number;
  /** The part of cpuSeconds spent in the kernel (system calls: socket writes, page faults). */
  readonly systemSeconds: number;
  readonly rssMb: number;
}

/** User + system CPU seconds from `/proc/<pid>/stat` (fields after the command name). */
export function parseCpuSeconds(stat: string): number {
  const [user, system] = cpuTicks(stat);
  return (user + system) / CLK_TCK;
}

/** System (kernel) CPU seconds from `/proc/<pid>/stat`. */
export function parseSystemSeconds(stat: string): number {
  return cpuTicks(stat)[1] / CLK_TCK;
}

/** utime and stime (fields 14 and 15), counted after the command name, which may hold spaces. */
function cpuTicks(stat: string): [number, number] {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]), Number(fields[12])];
}

/** VmRSS of `/proc/<pid>/status` in MB. */
export function parseRssMb(status: string): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / KB_PER_MB;
}

export function processStats(pid: number): ProcessStats {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return { cpuSeconds: parseCpuSeconds(stat), systemSeconds: parseSystemSeconds(stat), rssMb: parseRssMb(readFileSync(`/proc/${pid}/status`, 'utf8')) };
}

export function rssMb(pid: number): number {
  return parseRssMb(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** RSS by kind of page, in MB (`/proc/<pid>/smaps_rollup`). */
export interface SmapsRollup {
  readonly rssMb: number;
  readonly pssMb: number;
  /** Anonymous pages: the V8 heap, JIT code, malloc (native), thread stacks. */
  readonly anonymousMb: number;
  /** File-backed (and shmem) pages: the node binary, shared libraries, ICU data, mapped files. */
  readonly fileMb: number;
  readonly sharedMb: number;
  readonly privateMb: number;
  readonly swapMb: number;
}

/** Parses smaps_rollup (`Key:   123 kB` lines); missing keys count 0. */
export function parseSmapsRollup(text: string): SmapsRollup {
  const kb = new Map<string, number>();
  for (const match of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) kb.set(match[1] ?? '', Number(match[2]));
  const mb = (key: string): number => (kb.get(key) ?? 0) / KB_PER_MB;
  const rss = mb('Rss');
  const anonymous = mb('Anonymous');
  return {
    rssMb: rss,
    pssMb: mb('Pss'),
    anonymousMb: anonymous,
    fileMb: rss - anonymous,
    sharedMb: mb('Shared_Clean') + mb('Shared_Dirty'),
    privateMb: mb('Private_Clean') + mb('Private_Dirty'),
    swapMb: mb('Swap'),
  };
}

export function readSmapsRollup(pid: number): SmapsRollup {
  return parseSmapsRollup(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
}

/** A process of this Node binary whose argv satisfies `matches` (first found), with its argv; undefined if none. */
export function findNodeProcess(matches: (args: readonly string[]) => boolean): { pid: number; args: readonly string[] } | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args[0] === process.execPath && matches(args)) return { pid: Number(entry), args };
    } catch {
      // Gone while we looked.
    }
  }
  return undefined;
}
