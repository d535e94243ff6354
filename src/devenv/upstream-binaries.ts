/**
 * The archived project's own MIC and NMI (aad-pod-identity at the tag in
 * scripts/upstream-aad-pod-identity-tag), the peer of the interop and migration tests. Located, never
 * built here: a test that needs them and finds them missing fails with the command that builds them.
 * @module
 */
import { constants, readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './binaries.ts';
import { run } from './exec.ts';

/** The file holding the upstream tag; the build script reads the same one. */
export const UPSTREAM_TAG_FILE = path.join(repoRoot, 'scripts/upstream-aad-pod-identity-tag');
const BUILD_SCRIPT = path.join(repoRoot, 'scripts/build-upstream-binaries.sh');
/** What builds them (cached outside the repo, ~1.5 min cold); .ci/run runs it. */
export const UPSTREAM_BUILD_COMMAND = 'bash scripts/build-upstream-binaries.sh';
export const UPSTREAM_BINARIES_ENV = 'POD_IDENTITY_UPSTREAM_BINARIES';

export interface UpstreamBinaries {
  /** e.g. `v1.8.17`. */
  readonly tag: string;
  readonly dir: string;
  readonly mic: string;
  readonly nmi: string;
}

/** The upstream tag (`vX.Y.Z`) from {@link UPSTREAM_TAG_FILE}; throws when the file holds anything else. */
export function upstreamTag(file: string = UPSTREAM_TAG_FILE): string {
  const tag = readFileSync(file, 'utf8').trim();
  if (!/^v\d+\.\d+\.\d+$/.test(tag)) throw new Error(`${file} holds ${JSON.stringify(tag)}, not a tag like v1.8.17`);
  return tag;
}

function howToGet(tag: string): string {
  return `Build them with \`${UPSTREAM_BUILD_COMMAND}\` (aad-pod-identity ${tag} from the Go module proxy, needs Go >= 1.26; cached in ~/.cache/pod-identity/upstream-binaries), or set ${UPSTREAM_BINARIES_ENV} to a directory holding mic and nmi of ${tag}.`;
}

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** `<name> --version` must name the tag: a directory given by hand may hold another release. */
async function checkVersion(binary: string, tag: string): Promise<void> {
  // MIC checks MIC_POD_NAMESPACE before it reads --version.
  const result = await run(binary, ['--version'], { timeoutMs: 10_000, env: { ...process.env, MIC_POD_NAMESPACE: 'version-check' } });
  const line = result.stdout.trim().split('\n')[0] ?? '';
  if (result.code !== 0 || !line.includes(`Version: ${tag}`)) {
    throw new Error(`${binary} --version says ${JSON.stringify(line || result.stderr.trim().slice(0, 200))} (exit ${result.code}), not ${tag}. ${howToGet(tag)}`);
  }
}

/**
 * Finds upstream's `mic` and `nmi`: the directory in POD_IDENTITY_UPSTREAM_BINARIES, else the build
 * script's cache (`--locate`, which builds nothing). Throws naming the command that builds them.
 */
export async function locateUpstreamBinaries(env: NodeJS.ProcessEnv = process.env): Promise<UpstreamBinaries> {
  const tag = upstreamTag();
  let dir = env[UPSTREAM_BINARIES_ENV] ?? '';
  if (dir === '') {
    const located = await run('bash', [BUILD_SCRIPT, '--locate'], { cwd: repoRoot, timeoutMs: 30_000, env: { ...process.env, ...env } });
    if (located.code !== 0) throw new Error(`The upstream aad-pod-identity ${tag} binaries (mic, nmi) are missing: ${located.stderr.trim()}. ${howToGet(tag)}`);
    dir = located.stdout.trim().split('\n').at(-1) ?? '';
  }
  const binaries = { tag, dir: path.resolve(dir), mic: path.resolve(dir, 'mic'), nmi: path.resolve(dir, 'nmi') };
  const missing: string[] = [];
  for (const file of [binaries.mic, binaries.nmi]) if (!(await executable(file))) missing.push(file);
  if (missing.length > 0) throw new Error(`The upstream aad-pod-identity ${tag} binaries are missing: no executable ${missing.join(', ')}. ${howToGet(tag)}`);
  await checkVersion(binaries.nmi, tag);
  await checkVersion(binaries.mic, tag);
  return binaries;
}
