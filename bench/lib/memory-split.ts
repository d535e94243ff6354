/**
 * Where a process's RSS goes: smaps_rollup (anonymous vs file-backed, shared vs private) combined with
 * the process's own V8 statistics (bench/lib/heap-probe.ts). V8's heap pages are anonymous, so
 * native = anonymous − V8's resident heap (malloc: buffers, external strings, C++ objects, WebAssembly
 * code, thread stacks).
 * @module
 */
import type { HeapProbe } from './heap-probe.ts';
import { summarize } from './stats.ts';
import type { Figure } from './types.ts';
import { readHeapProbe } from './heap-probe.ts';
import { readSmapsRollup, type SmapsRollup } from './proc.ts';

const MB = 2 ** 20;
const CODE_SPACES = new Set(['code_space', 'code_large_object_space']);

export interface MemorySplit {
  readonly rssMb: number;
  /** The node binary, shared libraries, ICU data: pages any process of the same binary has. */
  readonly fileMb: number;
  readonly anonymousMb: number;
  /** V8 heap spaces resident, code spaces excluded. */
  readonly v8HeapMb: number;
  /** V8's live objects (heap used). */
  readonly v8HeapUsedMb: number;
  /** Code spaces resident (JIT and builtins' copies). */
  readonly v8CodeMb: number;
  /** Bytecode and its metadata (inside the heap). */
  readonly bytecodeMb: number;
  /** Script source text held by V8 (external strings: part of native). */
  readonly scriptSourceMb: number;
  readonly arrayBuffersMb: number;
  /** Anonymous pages that are not V8's heap. */
  readonly nativeMb: number;
  readonly sharedMb: number;
  readonly privateMb: number;
}

/** Pure: the split from the two views. */
export function splitMemory(rollup: SmapsRollup, probe: HeapProbe): MemorySplit {
  const resident = (predicate: (name: string) => boolean): number =>
    probe.spaces.filter((space) => predicate(space.space_name)).reduce((sum, space) => sum + space.physical_space_size, 0) / MB;
  const heap = resident((name) => !CODE_SPACES.has(name));
  const code = resident((name) => CODE_SPACES.has(name));
  return {
    rssMb: rollup.rssMb,
    fileMb: rollup.fileMb,
    anonymousMb: rollup.anonymousMb,
    v8HeapMb: heap,
    v8HeapUsedMb: probe.memoryUsage.heapUsed / MB,
    v8CodeMb: code,
    bytecodeMb: probe.code.bytecode_and_metadata_size / MB,
    scriptSourceMb: probe.code.external_script_source_size / MB,
    arrayBuffersMb: probe.memoryUsage.arrayBuffers / MB,
    nativeMb: rollup.anonymousMb - heap - code,
    sharedMb: rollup.sharedMb,
    privateMb: rollup.privateMb,
  };
}

/** Both views of `pid` at one moment (the probe answers within milliseconds). */
export async function measureSplit(pid: number, probeOutput: string): Promise<MemorySplit> {
  const probe = await readHeapProbe(pid, probeOutput);
  return splitMemory(readSmapsRollup(pid), probe);
}

const mb = (value: number): string => value.toFixed(1);

/** One line for notes and logs. */
export function describeSplit(split: MemorySplit): string {
  return `RSS ${mb(split.rssMb)} MB = file-backed ${mb(split.fileMb)} + anonymous ${mb(split.anonymousMb)} [V8 heap ${mb(split.v8HeapMb)} (used ${mb(split.v8HeapUsedMb)}, bytecode ${mb(split.bytecodeMb)}), V8 code ${mb(split.v8CodeMb)}, native ${mb(split.nativeMb)} (array buffers ${mb(split.arrayBuffersMb)}, script source ${mb(split.scriptSourceMb)})]; shared ${mb(split.sharedMb)} / private ${mb(split.privateMb)}`;
}

/** The split's parts as numbers, for the JSON report. */
export function splitRecord(split: MemorySplit): Record<string, number> {
  return Object.fromEntries(Object.entries(split).map(([key, value]) => [key, Math.round(value * 10) / 10]));
}

/** A figure of the split of one process's RSS (heap, code, native, file pages), for the notes and the JSON. */
export function splitFigure(name: string, split: MemorySplit, notes: string, heapByType?: Readonly<Record<string, number>>): Figure {
  return { name, unit: 'MB', summary: summarize([split.rssMb]), notes: `${describeSplit(split)}; ${notes}`, details: { split: splitRecord(split), ...(heapByType === undefined ? {} : { heapSnapshotMbByType: heapByType }) } };
}
