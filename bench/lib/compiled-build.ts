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
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { imageNodeFlags, imageRuntime } from './runtime-settings.ts';

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

/**
 * Builds the source root as its images do and makes MicWorld and the NMI launchers start that build:
 * MIC from tsc's src/mic/main.js with the `node` flags of Dockerfile.mic's ENTRYPOINT, NMI from the bundle (scripts/bundle-nmi.ts, when the source root has
 * it) with the `node` flags of Dockerfile.nmi's ENTRYPOINT and V8's code cache written once with the
 * image's runtime settings, as the image build does.
 */
export function useCompiledBuild(): void {
  const root = sourceRoot();
  const outDir = buildDir();
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', outDir], { stdio: 'inherit' });
  process.once('exit', () => {
    rmSync(outDir, { recursive: true, force: true });
  });
  // The launchers join these to repoRoot: a relative path reaches another root too.
  process.env['POD_IDENTITY_MIC_ENTRY'] = path.relative(repoRoot, compiledEntry('mic'));
  process.env['POD_IDENTITY_MIC_NODE_ARGS'] = JSON.stringify(imageNodeFlags('mic', outDir, root));
  const bundler = path.join(root, 'scripts/bundle-nmi.ts');
  if (!existsSync(bundler)) {
    process.env['POD_IDENTITY_NMI_ENTRY'] = path.relative(repoRoot, compiledEntry('nmi'));
    return;
  }
  execFileSync(process.execPath, [bundler, outDir], { stdio: 'inherit' });
  const entry = nmiEntry();
  const flags = imageNodeFlags('nmi', outDir, root);
  writeCodeCache(flags, entry, imageRuntime('nmi', root).env);
  process.env['POD_IDENTITY_NMI_ENTRY'] = path.relative(repoRoot, entry);
  process.env['POD_IDENTITY_NMI_NODE_ARGS'] = JSON.stringify([...flags, ...extraNodeArgs()]);
}

/**
 * BENCH_NMI_EXTRA_NODE_ARGS='["--cpu-prof", …]' (a JSON array): `node` flags added after the image's to
 * every NMI and baseline server the NMI suite starts, to profile them (--cpu-prof, --perf-prof, --trace-gc).
 */
export function extraNodeArgs(): string[] {
  const extra = JSON.parse(process.env['BENCH_NMI_EXTRA_NODE_ARGS'] ?? '[]') as unknown;
  if (!Array.isArray(extra) || !extra.every((flag) => typeof flag === 'string')) throw new Error(`BENCH_NMI_EXTRA_NODE_ARGS must be a JSON array of strings: ${String(process.env['BENCH_NMI_EXTRA_NODE_ARGS'])}`);
  return extra;
}

/**
 * Imports `entry` once with `node` flags `flags` (among them the bundle's compile-cache preload) and
 * `env`, so that V8's code cache is written, as the image build does: the cache is keyed by V8's
 * flags. The module must not keep the process alive.
 */
export function writeCodeCache(flags: readonly string[], entry: string, env: Readonly<Record<string, string>>): void {
  execFileSync(process.execPath, [...flags, '--input-type=module', '-e', `await import(${JSON.stringify(entry)})`], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: 'inherit' });
}

/** What the launchers start for NMI after {@link useCompiledBuild}: the bundle, else tsc's entry. */
export function nmiEntry(): string {
  const bundle = path.join(buildDir(), 'nmi/main.js');
  return existsSync(bundle) ? bundle : compiledEntry('nmi');
}

/** tsc's entry of `component` in the measured build (after {@link useCompiledBuild}); its static imports name the start-up libraries. */
export function compiledEntry(component: 'mic' | 'nmi'): string {
  return path.join(buildDir(), `src/${component}/main.js`);
}

/** The scenarios named in `variable` (comma-separated), else `all`. */
export function wantedScenarios(variable: string, all: readonly string[]): Set<string> {
  return new Set((process.env[variable] ?? all.join(',')).split(','));
}
