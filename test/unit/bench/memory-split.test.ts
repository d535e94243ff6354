import { describe, expect, it } from 'vitest';
import { beforeIndex, lookupBefore, type SavedReport } from '../../../bench/lib/compare.ts';
import { floorModule, staticImports } from '../../../bench/lib/floor.ts';
import type { HeapProbe } from '../../../bench/lib/heap-probe.ts';
import { splitMemory } from '../../../bench/lib/memory-split.ts';
import { parseSmapsRollup } from '../../../bench/lib/proc.ts';
import { renderTable } from '../../../bench/lib/report.ts';
import { summarize } from '../../../bench/lib/stats.ts';

const MB = 2 ** 20;
const space = (name: string, physicalMb: number): HeapProbe['spaces'][number] => ({ space_name: name, space_size: physicalMb * MB, space_used_size: physicalMb * MB, physical_space_size: physicalMb * MB });

describe('bench memory split', () => {
  it('native is the anonymous pages that are not V8 heap or code', () => {
    const rollup = parseSmapsRollup('Rss: 102400 kB\nAnonymous: 61440 kB\nShared_Clean: 40960 kB\nPrivate_Dirty: 61440 kB\n');
    const probe: HeapProbe = {
      memoryUsage: { rss: 100 * MB, heapTotal: 32 * MB, heapUsed: 20 * MB, external: 3 * MB, arrayBuffers: 1 * MB },
      heap: { total_physical_size: 34 * MB, used_heap_size: 20 * MB, malloced_memory: 1 * MB, external_memory: 3 * MB },
      spaces: [space('new_space', 4), space('old_space', 25), space('code_space', 3), space('code_large_object_space', 1), space('large_object_space', 1)],
      code: { code_and_metadata_size: 4 * MB, bytecode_and_metadata_size: 2 * MB, external_script_source_size: 5 * MB },
    };
    const split = splitMemory(rollup, probe);
    expect(split.v8HeapMb).toBe(30);
    expect(split.v8CodeMb).toBe(4);
    expect(split.nativeMb).toBe(26);
    expect(split.fileMb).toBe(40);
    expect(split.scriptSourceMb).toBe(5);
  });

  it("finds a module's static imports, not its dynamic ones", () => {
    const source = [
      "import { a } from './a.js';",
      'import fastify from "fastify";',
      "import 'node:process';",
      "export { b } from '../b.js';",
      "export * from 'pino';",
      'import {\n  c,\n  d,\n} from "prom-client";',
      "const lazy = await import('@azure/identity');",
    ].join('\n');
    expect(staticImports(source)).toEqual(['./a.js', 'fastify', 'node:process', '../b.js', 'pino', 'prom-client']);
  });

  it('writes a floor module that keeps every library whole and imports nothing else', () => {
    const module = floorModule(['fastify', 'node:tls']);
    expect(staticImports(module)).toEqual(['fastify', 'node:tls']);
    expect(module).toContain('import * as m0 from "fastify";');
    expect(module).toContain('globalThis.floorModules = [m0, m1];');
    expect(module).toContain("if (process.env.BENCH_FLOOR_WARM !== '1') setInterval(");
  });
});

describe('bench before/after', () => {
  const earlier: SavedReport = {
    time: '2026-12-05T00:00:00.000Z',
    quick: true,
    suites: { nmi: { figures: [{ name: 'rootless: NMI RSS', unit: 'MB', summary: summarize([110, 112]), met: false }] } },
  };

  it('matches figures by suite and name', () => {
    const index = beforeIndex(earlier);
    expect(lookupBefore(index, 'nmi', 'rootless: NMI RSS')).toEqual({ median: 110, met: false });
    expect(lookupBefore(index, 'mic', 'rootless: NMI RSS')).toBeUndefined();
  });

  it('adds a before column to the table', () => {
    const results = new Map([['nmi', { parameters: {}, figures: [
      { name: 'rootless: NMI RSS', unit: 'MB', summary: summarize([70]), target: { kind: 'max' as const, value: 75, source: 'issue 17' } },
      { name: 'new figure', unit: 'ms', summary: summarize([1]) },
    ] }]]);
    const lines = renderTable(results, beforeIndex(earlier)).split('\n');
    expect(lines[0]).toMatch(/before\s+ok before$/);
    expect(lines[1]).toMatch(/70\.0\s.*yes\s+110\s+NO$/);
    expect(lines[2]).toMatch(/\s-$/);
  });
});
