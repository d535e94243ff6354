/**
 * How tests and benchmarks start MIC and NMI on this Node: `node [flags] <entry> …`. The entry is
 * POD_IDENTITY_<MIC|NMI>_ENTRY (relative to the repository; default src/<mic|nmi>/main.ts), the flags
 * POD_IDENTITY_<MIC|NMI>_NODE_ARGS (a JSON array; the benchmark sets the image ENTRYPOINT's flags for
 * its build, bench/lib/compiled-build.ts).
 */
import path from 'node:path';
import { repoRoot } from '../../src/devenv/binaries.ts';

/** The `node` flags the component runs with (none unless the benchmark set them). */
export function componentNodeFlags(component: 'mic' | 'nmi'): string[] {
  const variable = `POD_IDENTITY_${component.toUpperCase()}_NODE_ARGS`;
  const flags = JSON.parse(process.env[variable] ?? '[]') as unknown;
  if (!Array.isArray(flags) || !flags.every((flag) => typeof flag === 'string')) throw new Error(`${variable} must be a JSON array of strings: ${String(process.env[variable])}`);
  return flags;
}

/** The component's entry script, absolute. */
export function componentEntry(component: 'mic' | 'nmi'): string {
  return path.join(repoRoot, process.env[`POD_IDENTITY_${component.toUpperCase()}_ENTRY`] ?? `src/${component}/main.ts`);
}

/** The arguments after `node` that start NMI, before NMI's own flags. */
export function nmiNodeArgs(): string[] {
  return [...componentNodeFlags('nmi'), componentEntry('nmi')];
}
