/**
 * What every suite does before it measures: build `dist/` and point the worlds at it, so the figures are
 * those of what production runs (compiled JavaScript), not of type-stripped sources.
 * @module
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../src/devenv/binaries.ts';

/** Compiles with tsconfig.build.json and makes MicWorld and the NMI launchers start dist/src/{mic,nmi}/main.js. */
export function useCompiledBuild(): void {
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', path.join(repoRoot, 'tsconfig.build.json')], { stdio: 'inherit' });
  process.env['POD_IDENTITY_NMI_ENTRY'] = 'dist/src/nmi/main.js';
  process.env['POD_IDENTITY_MIC_ENTRY'] = 'dist/src/mic/main.js';
}

/** The scenarios named in `variable` (comma-separated), else `all`. */
export function wantedScenarios(variable: string, all: readonly string[]): Set<string> {
  return new Set((process.env[variable] ?? all.join(',')).split(','));
}
