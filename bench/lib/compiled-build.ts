/**
 * What every suite does before it measures: build `dist/` and point the worlds at it, so the figures are
 * those of what production runs (compiled JavaScript), not of type-stripped sources.
 *
 * BENCH_SOURCE_ROOT=/path/to/another/checkout measures that checkout's build instead (e.g. a worktree of
 * an earlier commit): the same benchmark code, harness and machine, another MIC/NMI. Its `node_modules`
 * must exist (a symlink to this one's is fine).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../src/devenv/binaries.ts';

/** The checkout whose MIC and NMI are measured (default: this one). */
export function sourceRoot(): string {
  return path.resolve(process.env['BENCH_SOURCE_ROOT'] ?? repoRoot);
}

/**
 * Where this run's build goes: a directory of its own under the source root (inside it, so `node_modules`
 * and package.json's `"type": "module"` are found), so two benchmark runs never rewrite the files the
 * other's MIC or NMI is loading. Removed when the run exits.
 */
function buildDir(): string {
  return path.join(sourceRoot(), '.bench-dist', String(process.pid));
}

/** Compiles the source root with its tsconfig.build.json and makes MicWorld and the NMI launchers start its src/{mic,nmi}/main.js. */
export function useCompiledBuild(): void {
  const root = sourceRoot();
  const outDir = buildDir();
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', outDir], { stdio: 'inherit' });
  process.once('exit', () => {
    rmSync(outDir, { recursive: true, force: true });
  });
  // The launchers join these to repoRoot: a relative path reaches another root too.
  process.env['POD_IDENTITY_NMI_ENTRY'] = path.relative(repoRoot, compiledEntry('nmi'));
  process.env['POD_IDENTITY_MIC_ENTRY'] = path.relative(repoRoot, compiledEntry('mic'));
}

/** The compiled entry of `component` in the measured build (after {@link useCompiledBuild}). */
export function compiledEntry(component: 'mic' | 'nmi'): string {
  return path.join(buildDir(), `src/${component}/main.js`);
}

/** The scenarios named in `variable` (comma-separated), else `all`. */
export function wantedScenarios(variable: string, all: readonly string[]): Set<string> {
  return new Set((process.env[variable] ?? all.join(',')).split(','));
}
