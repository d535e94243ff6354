/**
 * The floor for a Node.js agent of a given shape: what an empty process costs with the same Node, the
 * same runtime settings and the same third-party libraries loaded at start-up as the compiled entry
 * (found by following its static imports at run time, so the floor follows the code), but none of
 * the project's own code. Beside it, a plain `node -e "setInterval(…)"`.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { probeOutput, withHeapProbe } from './heap-probe.ts';
import { measureSplit, type MemorySplit } from './memory-split.ts';
import { rssMb } from './proc.ts';

const STATIC_IMPORT = /\b(?:import|export)\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Pure: the specifiers of a module's static imports and re-exports (not `import(…)`). */
export function staticImports(source: string): string[] {
  return [...source.matchAll(STATIC_IMPORT)].map((match) => match[1] ?? '').filter((specifier) => specifier !== '');
}

/** The non-relative specifiers (packages and builtins) reached from `entry` through static imports only. */
export function startupPackages(entry: string): string[] {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const pending = [path.resolve(entry)];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    for (const specifier of staticImports(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.')) pending.push(path.resolve(path.dirname(file), specifier));
      else packages.add(specifier);
    }
  }
  return [...packages].sort();
}

export interface FloorOptions {
  /** The image's runtime environment (NODE_OPTIONS etc.). */
  readonly runtime: Readonly<Record<string, string>>;
  /** Specifiers to import, resolved from `cwd`. */
  readonly packages: readonly string[];
  readonly cwd: string;
  /** How long to let it settle after loading. */
  readonly settleMs?: number;
}

async function measured<T>(args: readonly string[], env: Record<string, string>, cwd: string, settleMs: number, measure: (pid: number) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  try {
    const deadline = performance.now() + 30_000;
    while (!output.includes('loaded')) {
      if (child.exitCode !== null || performance.now() > deadline) throw new Error(`floor process did not load: ${output.slice(-2000)}`);
      await sleep(20);
    }
    await sleep(settleMs);
    return await measure(child.pid ?? 0);
  } finally {
    child.kill('SIGKILL');
  }
}

/** The empty process of the same shape (runtime settings + libraries), split like the real one. */
export async function floorSplit(options: FloorOptions): Promise<MemorySplit> {
  const output = probeOutput('floor');
  const code = 'for (const name of JSON.parse(process.env.BENCH_FLOOR_PACKAGES ?? "[]")) await import(name); setInterval(() => {}, 1000); console.log("loaded");';
  const env = { ...withHeapProbe(options.runtime, output), BENCH_FLOOR_PACKAGES: JSON.stringify(options.packages) };
  return measured(['--input-type=module', '-e', code], env, options.cwd, options.settleMs ?? 1500, (pid) => measureSplit(pid, output));
}

/** RSS of a plain `node -e "setInterval(…)"`: no flags, no libraries. */
export async function plainNodeRss(settleMs = 1500): Promise<number> {
  return measured(['-e', 'setInterval(() => {}, 1000); console.log("loaded")'], {}, process.cwd(), settleMs, (pid) => Promise.resolve(rssMb(pid)));
}
