/**
 * The floor for a Node.js agent of a given shape: what an empty process costs with the same Node, the
 * same runtime settings and the same third-party libraries loaded at start-up as the compiled entry
 * (found by following its static imports at run time, so the floor follows the code), but none of
 * the project's own code. Beside it, a plain `node -e "setInterval(…)"`.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeCodeCache } from './compiled-build.ts';
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
  /**
   * Bundle the libraries into one file in `dir` and start it with these `node` flags and V8's code
   * cache written once before, as the NMI image runs its bundle; else import them from node_modules.
   */
  readonly bundle?: { readonly dir: string; readonly flags: readonly string[] };
  /** A module imported before the libraries: the component's own process set-up (e.g. MIC's src/mic/process-setup.js). */
  readonly setup?: string;
  /** `node` flags (the image ENTRYPOINT's), when not bundled. */
  readonly nodeFlags?: readonly string[];
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

/** Pure: an ES module that loads `packages` (kept whole: the bundler may not drop their exports) and stays alive (exits with BENCH_FLOOR_WARM=1). */
export function floorModule(packages: readonly string[]): string {
  const imports = packages.map((name, index) => `import * as m${String(index)} from ${JSON.stringify(name)};`);
  return `${imports.join('\n')}\nglobalThis.floorModules = [${packages.map((_, index) => `m${String(index)}`).join(', ')}];\nif (process.env.BENCH_FLOOR_WARM !== '1') setInterval(() => {}, 1000);\nconsole.log('loaded');\n`;
}

/** Bundles the floor module into `dir/floor/main.js` and writes its code cache with `flags`; returns the `node` arguments that start it. */
async function bundledFloor(packages: readonly string[], dir: string, flags: readonly string[], env: Record<string, string>): Promise<string[]> {
  const source = path.join(dir, 'floor-src', 'main.js');
  mkdirSync(path.dirname(source), { recursive: true });
  writeFileSync(source, floorModule(packages));
  const { bundleModule } = await import('../../scripts/bundle-nmi.ts');
  const out = path.join(dir, 'floor');
  await bundleModule(source, out);
  const main = path.join(out, 'main.js');
  const flagsHere = flags.map((flag) => flag.replace(/^--import=.*compile-cache\.js$/, `--import=${path.join(out, 'compile-cache.js')}`));
  writeCodeCache(flagsHere, main, { ...env, BENCH_FLOOR_WARM: '1' });
  return [...flagsHere, main];
}

/** The empty process of the same shape (runtime settings + libraries), split like the real one. */
export async function floorSplit(options: FloorOptions): Promise<MemorySplit> {
  const output = probeOutput('floor');
  const code = 'for (const name of JSON.parse(process.env.BENCH_FLOOR_PACKAGES ?? "[]")) await import(name); setInterval(() => {}, 1000); console.log("loaded");';
  const packages = options.setup === undefined ? options.packages : [pathToFileURL(options.setup).href, ...options.packages];
  const env = { ...withHeapProbe(options.runtime, output), BENCH_FLOOR_PACKAGES: JSON.stringify(packages) };
  const args = options.bundle === undefined ? [...(options.nodeFlags ?? []), '--input-type=module', '-e', code] : await bundledFloor(packages, options.bundle.dir, options.bundle.flags, { ...options.runtime });
  return measured(args, env, options.cwd, options.settleMs ?? 1500, (pid) => measureSplit(pid, output));
}

/** RSS of a plain `node -e "setInterval(…)"`: no flags, no libraries. */
export async function plainNodeRss(settleMs = 1500): Promise<number> {
  return measured(['-e', 'setInterval(() => {}, 1000); console.log("loaded")'], {}, process.cwd(), settleMs, (pid) => Promise.resolve(rssMb(pid)));
}
