import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { run } from './exec.ts';

/** Absolute paths of the control-plane binaries the integration tests need. */
export interface Binaries {
  readonly kubeApiserver: string;
  readonly etcd: string;
  readonly kubectl: string;
  readonly helm: string;
}

type Key = keyof Binaries;
type Found = { -readonly [K in Key]?: string };

// File name inside a KUBEBUILDER_ASSETS-style directory, and the envtest-style per-binary override.
const SPEC: Record<Key, { file: string; env: string }> = {
  kubeApiserver: { file: 'kube-apiserver', env: 'TEST_ASSET_KUBE_APISERVER' },
  etcd: { file: 'etcd', env: 'TEST_ASSET_ETCD' },
  kubectl: { file: 'kubectl', env: 'TEST_ASSET_KUBECTL' },
  helm: { file: 'helm', env: 'TEST_ASSET_HELM' },
};
const KEYS = Object.keys(SPEC) as Key[];

// src/devenv when run from sources, dist/src/devenv when compiled.
export const repoRoot = path.resolve(import.meta.dirname, import.meta.url.endsWith('.ts') ? '../..' : '../../..');
const buildScript = path.join(repoRoot, 'scripts/build-test-binaries.sh');

const HOW_TO_GET =
  'Build them with `npm run test-binaries` (scripts/build-test-binaries.sh, needs Go >= 1.26 and the Go module proxy), ' +
  'or point KUBEBUILDER_ASSETS at a directory holding kube-apiserver, etcd, kubectl and helm, ' +
  'or set TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD / TEST_ASSET_KUBECTL / TEST_ASSET_HELM.';

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Binaries in one directory (KUBEBUILDER_ASSETS layout); throws naming every missing one. */
export async function binariesIn(dir: string): Promise<Binaries> {
  const found = await fromDir(dir, {});
  return complete(found, `in ${dir}`);
}

async function fromDir(dir: string, have: Found): Promise<Found> {
  const out: Found = { ...have };
  for (const k of KEYS) {
    const candidate = path.resolve(dir, SPEC[k].file);
    if (out[k] === undefined && (await isExecutable(candidate))) out[k] = candidate;
  }
  return out;
}

function complete(found: Found, where: string): Binaries {
  const missing = KEYS.filter((k) => found[k] === undefined).map((k) => SPEC[k].file);
  const { kubeApiserver, etcd, kubectl, helm } = found;
  if (kubeApiserver === undefined || etcd === undefined || kubectl === undefined || helm === undefined) {
    throw new Error(`Missing test binaries (${missing.join(', ')}) ${where}. ${HOW_TO_GET}`);
  }
  return { kubeApiserver, etcd, kubectl, helm };
}

async function locate(): Promise<Binaries> {
  let found: Found = {};
  for (const k of KEYS) {
    const override = process.env[SPEC[k].env];
    if (override === undefined || override === '') continue;
    if (!(await isExecutable(override))) {
      throw new Error(`${SPEC[k].env}=${override} is not an executable file. ${HOW_TO_GET}`);
    }
    found[k] = path.resolve(override);
  }
  const assets = process.env['KUBEBUILDER_ASSETS'];
  if (assets !== undefined && assets !== '') found = await fromDir(assets, found);
  if (KEYS.every((k) => found[k] !== undefined)) return complete(found, '');

  // The build script is a cached no-op once the binaries exist; a cold build takes 20-35 min.
  const r = await run('bash', [buildScript], { cwd: repoRoot, timeoutMs: 90 * 60_000, teeStderr: true });
  const lastLine = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.code !== 0 || lastLine === '') {
    throw new Error(
      `Missing test binaries and ${buildScript} failed (exit ${r.code}):\n${r.stderr.split('\n').slice(-30).join('\n')}\n${HOW_TO_GET}`,
    );
  }
  return complete(await fromDir(lastLine, found), `after running ${buildScript} (it printed ${lastLine})`);
}

let cached: Promise<Binaries> | undefined;

/**
 * Finds kube-apiserver, etcd, kubectl and helm: per-binary TEST_ASSET_* variables first, then
 * KUBEBUILDER_ASSETS, then the project's build script. Throws (never skips) when any is missing.
 */
export function locateBinaries(): Promise<Binaries> {
  cached ??= locate();
  // Let a later call retry after a failure (e.g. the build finished in the meantime).
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}
