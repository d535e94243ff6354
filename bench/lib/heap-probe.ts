/**
 * The V8 side of a child's memory, without the inspector: the child is started with
 * `NODE_OPTIONS=… --require <probe>` and BENCH_HEAP_PROBE_FILE; on SIGUSR2 the probe writes
 * process.memoryUsage(), v8.getHeapStatistics(), getHeapSpaceStatistics() and getHeapCodeStatistics()
 * as JSON to that file; asked with {@link writeHeapSnapshot}, it writes a heap snapshot instead (which
 * grows the process: take it after the figures). The probe is plain CommonJS written to a temporary file at run time: a .ts
 * preload would load the type stripper (WebAssembly) into the process being measured. It adds a few kB,
 * and the signal handle does not keep the process alive.
 * @module
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PROBE_SOURCE = `'use strict';
const { existsSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const v8 = require('node:v8');
const file = process.env.BENCH_HEAP_PROBE_FILE;
if (file) {
  process.on('SIGUSR2', () => {
    if (existsSync(file + '.snapshot-request')) {
      rmSync(file + '.snapshot-request');
      v8.writeHeapSnapshot(file + '.heapsnapshot.tmp');
      renameSync(file + '.heapsnapshot.tmp', file + '.heapsnapshot');
      return;
    }
    const probe = { memoryUsage: process.memoryUsage(), heap: v8.getHeapStatistics(), spaces: v8.getHeapSpaceStatistics(), code: v8.getHeapCodeStatistics() };
    writeFileSync(file + '.tmp', JSON.stringify(probe));
    renameSync(file + '.tmp', file);
  });
}
`;

export interface HeapSpace {
  readonly space_name: string;
  readonly space_size: number;
  readonly space_used_size: number;
  readonly physical_space_size: number;
}

export interface HeapProbe {
  readonly memoryUsage: { readonly rss: number; readonly heapTotal: number; readonly heapUsed: number; readonly external: number; readonly arrayBuffers: number };
  readonly heap: { readonly total_physical_size: number; readonly used_heap_size: number; readonly malloced_memory: number; readonly external_memory: number };
  readonly spaces: readonly HeapSpace[];
  readonly code: { readonly code_and_metadata_size: number; readonly bytecode_and_metadata_size: number; readonly external_script_source_size: number };
}

let probeDir: string | undefined;

/** The probe's path (written once per benchmark process). */
function probeFile(): string {
  probeDir ??= mkdtempSync(path.join(tmpdir(), 'bench-heap-probe-'));
  const file = path.join(probeDir, 'heap-probe.cjs');
  if (!existsSync(file)) writeFileSync(file, PROBE_SOURCE);
  return file;
}

/** A place for one child's probe output. */
export function probeOutput(name: string): string {
  probeFile();
  return path.join(probeDir ?? tmpdir(), `${name}-${process.pid}-${Date.now()}.json`);
}

/** `runtime` (the image's env) plus the probe: NODE_OPTIONS gets `--require`, BENCH_HEAP_PROBE_FILE names `output`. */
export function withHeapProbe(runtime: Readonly<Record<string, string>>, output: string): Record<string, string> {
  const options = [runtime['NODE_OPTIONS'] ?? '', `--require=${probeFile()}`].filter((part) => part !== '').join(' ');
  return { ...runtime, NODE_OPTIONS: options, BENCH_HEAP_PROBE_FILE: output };
}

/** Signals `pid` and reads what its probe wrote (bounded by `timeoutMs`). */
export async function readHeapProbe(pid: number, output: string, timeoutMs = 5_000): Promise<HeapProbe> {
  rmSync(output, { force: true });
  process.kill(pid, 'SIGUSR2');
  const deadline = performance.now() + timeoutMs;
  while (!existsSync(output)) {
    if (performance.now() > deadline) throw new Error(`no heap probe from pid ${pid} within ${timeoutMs} ms (started without withHeapProbe?)`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return JSON.parse(readFileSync(output, 'utf8')) as HeapProbe;
}

/** Asks the probe of `pid` for a heap snapshot; resolves with its path (bounded by `timeoutMs`). */
export async function writeHeapSnapshot(pid: number, output: string, timeoutMs = 60_000): Promise<string> {
  const snapshot = `${output}.heapsnapshot`;
  rmSync(snapshot, { force: true });
  writeFileSync(`${output}.snapshot-request`, '');
  process.kill(pid, 'SIGUSR2');
  const deadline = performance.now() + timeoutMs;
  while (!existsSync(snapshot)) {
    if (performance.now() > deadline) throw new Error(`no heap snapshot from pid ${pid} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return snapshot;
}
