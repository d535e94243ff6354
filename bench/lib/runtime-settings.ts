/**
 * The runtime settings the images give MIC and NMI (`ENV` of the final stage of Dockerfile.mic and
 * Dockerfile.nmi: NODE_ENV, NODE_OPTIONS, MALLOC_ARENA_MAX, and the `node` flags of the ENTRYPOINT),
 * read from the Dockerfile of the build being measured each run, so the benchmark and the images
 * cannot drift apart.
 * BENCH_DEFAULT_RUNTIME=1 measures plain `node` instead (no settings).
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sourceRoot } from './compiled-build.ts';

export type Component = 'mic' | 'nmi';

export interface RuntimeSettings {
  readonly env: Readonly<Record<string, string>>;
  /** Where they came from, for the report, e.g. "/work/main/Dockerfile.nmi". */
  readonly source: string;
}

/** Joins `\`-continued lines; drops comments. */
function logicalLines(dockerfile: string): string[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of dockerfile.split('\n')) {
    if (pending === '' && /^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    lines.push(pending + line);
    pending = '';
  }
  if (pending !== '') lines.push(pending);
  return lines;
}

/** `KEY=value` pairs of one ENV instruction's arguments; values may be double- or single-quoted. */
function envPairs(args: string): [string, string][] {
  const pairs: [string, string][] = [];
  const pattern = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  for (const match of args.matchAll(pattern)) {
    const raw = match[2] ?? '';
    const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw.startsWith("'") ? raw.slice(1, -1) : raw;
    pairs.push([match[1] ?? '', value]);
  }
  return pairs;
}

/** The ENV of the Dockerfile's last stage (what the running container has); `ENV KEY value` form too. */
export function finalStageEnv(dockerfile: string): Record<string, string> {
  let env: Record<string, string> = {};
  for (const line of logicalLines(dockerfile)) {
    const instruction = /^\s*(\w+)\s+(.*)$/.exec(line);
    if (instruction === null) continue;
    const [, keyword = '', args = ''] = instruction;
    if (keyword.toUpperCase() === 'FROM') env = {};
    if (keyword.toUpperCase() !== 'ENV') continue;
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(args.trim())) Object.assign(env, Object.fromEntries(envPairs(args)));
    else {
      const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+(.*)$/.exec(args.trim());
      if (legacy !== null) env[legacy[1] ?? ''] = legacy[2] ?? '';
    }
  }
  return env;
}

/** BENCH_DEFAULT_RUNTIME=1 (or BENCH_<COMPONENT>_DEFAULT_RUNTIME=1): measure plain `node`, without the image's settings. */
function plainNodeWanted(component: Component): boolean {
  return process.env['BENCH_DEFAULT_RUNTIME'] === '1' || process.env[`BENCH_${component.toUpperCase()}_DEFAULT_RUNTIME`] === '1';
}

/** The image's runtime environment of `component`, from Dockerfile.<component> of the measured source root. */
export function imageRuntime(component: Component, root: string = sourceRoot()): RuntimeSettings {
  const source = path.join(root, `Dockerfile.${component}`);
  if (plainNodeWanted(component)) return { env: {}, source: 'none (BENCH_DEFAULT_RUNTIME=1: plain node)' };
  const wanted = ['NODE_ENV', 'NODE_OPTIONS', 'MALLOC_ARENA_MAX'];
  const all = finalStageEnv(readFileSync(source, 'utf8'));
  // Only what shapes the Node.js process; PATH and the like stay the harness's.
  const env = Object.fromEntries(Object.entries(all).filter(([key]) => wanted.includes(key) || key.startsWith('UV_') || key.startsWith('NODE_') || key.startsWith('MALLOC_')));
  return { env, source };
}

/**
 * The `node` flags of the Dockerfile's last ENTRYPOINT (exec form: `["node", …flags, entry]`), with the
 * image's `/app/dist/` paths (e.g. `--import=/app/dist/nmi/compile-cache.js`) moved to `buildDir`.
 */
export function entrypointNodeFlags(dockerfile: string, buildDir: string): string[] {
  let entrypoint: unknown;
  for (const line of logicalLines(dockerfile)) {
    const instruction = /^\s*ENTRYPOINT\s+(.*)$/i.exec(line);
    if (instruction !== null) entrypoint = JSON.parse(instruction[1] ?? '[]') as unknown;
  }
  if (!Array.isArray(entrypoint) || entrypoint[0] !== 'node') throw new Error(`no ENTRYPOINT ["node", …] in the Dockerfile: ${JSON.stringify(entrypoint)}`);
  const flags = entrypoint.slice(1, -1).map(String);
  return flags.map((flag) => flag.replaceAll('/app/dist/', `${buildDir}/`));
}

/** The image's `node` flags of `component` (ENTRYPOINT of Dockerfile.<component>), paths moved to `buildDir`; none with BENCH_DEFAULT_RUNTIME=1. */
export function imageNodeFlags(component: Component, buildDir: string, root: string = sourceRoot()): string[] {
  if (plainNodeWanted(component)) return [];
  return entrypointNodeFlags(readFileSync(path.join(root, `Dockerfile.${component}`), 'utf8'), buildDir);
}

/** One line for the report: `NODE_OPTIONS=… MALLOC_ARENA_MAX=2 (Dockerfile.nmi)`. */
export function describeRuntime(settings: RuntimeSettings): string {
  const pairs = Object.entries(settings.env).map(([key, value]) => `${key}=${value}`);
  return `${pairs.length === 0 ? '(none)' : pairs.join(' ')} [${settings.source}]`;
}
