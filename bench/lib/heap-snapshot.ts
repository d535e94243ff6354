/**
 * What a V8 heap snapshot holds, summed: self sizes by node type (code, strings, closures, objects…)
 * and the largest object kinds by constructor name. Opt-in (BENCH_HEAP_SNAPSHOT=1): a snapshot takes
 * seconds and grows the process, so the suites take it after their figures.
 * @module
 */
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeHeapSnapshot } from './heap-probe.ts';

interface SnapshotFile {
  readonly snapshot: { readonly meta: { readonly node_fields: readonly string[]; readonly node_types: readonly [readonly string[], ...unknown[]] } };
  readonly nodes: readonly number[];
  readonly strings: readonly string[];
}

export interface HeapSummary {
  readonly totalMb: number;
  /** MB by V8 node type (e.g. code, string, closure, object, array, hidden). */
  readonly byType: Readonly<Record<string, number>>;
  /** The largest `top` groups by type and name (constructor, or string/code kind), MB and count. */
  readonly top: readonly { readonly group: string; readonly mb: number; readonly count: number }[];
}

const MB = 2 ** 20;
const round = (value: number): number => Math.round(value * 100) / 100;

/** Pure: sums a parsed snapshot. Strings and code are grouped by type only (their names are contents). */
export function summarizeSnapshot(file: SnapshotFile, top = 15): HeapSummary {
  const fields = file.snapshot.meta.node_fields;
  const types = file.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const byType = new Map<string, number>();
  const groups = new Map<string, { size: number; count: number }>();
  let total = 0;
  for (let offset = 0; offset < file.nodes.length; offset += width) {
    const type = types[file.nodes[offset + typeAt] ?? 0] ?? 'unknown';
    const size = file.nodes[offset + sizeAt] ?? 0;
    total += size;
    byType.set(type, (byType.get(type) ?? 0) + size);
    const named = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' || type === 'array';
    const group = named ? `${type}:${(file.strings[file.nodes[offset + nameAt] ?? 0] ?? '').slice(0, 60)}` : type;
    const entry = groups.get(group) ?? { size: 0, count: 0 };
    entry.size += size;
    entry.count++;
    groups.set(group, entry);
  }
  return {
    totalMb: round(total / MB),
    byType: Object.fromEntries([...byType].sort((a, b) => b[1] - a[1]).map(([type, size]) => [type, round(size / MB)])),
    top: [...groups].sort((a, b) => b[1].size - a[1].size).slice(0, top).map(([group, entry]) => ({ group, mb: round(entry.size / MB), count: entry.count })),
  };
}

/**
 * When BENCH_HEAP_SNAPSHOT=1: a snapshot of `pid` (started with the heap probe), summed, then deleted —
 * or moved into the directory BENCH_HEAP_SNAPSHOT_KEEP names, to open in DevTools.
 */
export async function heapSnapshotSummary(pid: number, probeOutput: string): Promise<HeapSummary | undefined> {
  if (process.env['BENCH_HEAP_SNAPSHOT'] !== '1') return undefined;
  const path = await writeHeapSnapshot(pid, probeOutput);
  const keep = process.env['BENCH_HEAP_SNAPSHOT_KEEP'];
  try {
    return summarizeSnapshot(JSON.parse(readFileSync(path, 'utf8')) as SnapshotFile);
  } finally {
    if (keep === undefined || keep === '') rmSync(path, { force: true });
    else renameSync(path, join(keep, basename(path)));
  }
}

export function describeHeapSummary(summary: HeapSummary): string {
  const types = Object.entries(summary.byType).slice(0, 8).map(([type, mb]) => `${type} ${mb}`).join(', ');
  const top = summary.top.slice(0, 10).map((entry) => `${entry.group} ${entry.mb} MB (${entry.count})`).join('; ');
  return `heap snapshot ${summary.totalMb} MB: ${types}; largest: ${top}`;
}
