import { constants, readFileSync } from 'node:fs';
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

// The compat run (vitest project `compat`): the kube-apiserver of the oldest Kubernetes minor AKS still
// supports, beside the main build's etcd, kubectl and helm. Located, never built here: a test that needs
// it and finds it missing fails with the command that builds it.

/** The Go module that pins the compat version (its `k8s.io/kubernetes` requirement); the build script reads it too. */
export const COMPAT_MODULE_GO_MOD = path.join(repoRoot, 'test/peers/kube-apiserver-compat/go.mod');
const COMPAT_BUILD_SCRIPT = path.join(repoRoot, 'scripts/build-compat-apiserver.sh');
/** What builds it (cached outside the repo); .ci/run runs it. */
export const COMPAT_BUILD_COMMAND = 'bash scripts/build-compat-apiserver.sh';
export const COMPAT_APISERVER_ENV = 'POD_IDENTITY_COMPAT_APISERVER';

export interface CompatApiServer {
  /** e.g. `v1.35.4`. */
  readonly version: string;
  readonly kubeApiserver: string;
}

/** The compat Kubernetes version (`v1.X.Y`) from the `k8s.io/kubernetes` requirement of `goMod`. */
export function compatKubeVersion(goMod: string = COMPAT_MODULE_GO_MOD): string {
  const match = /^\s*k8s\.io\/kubernetes (v1\.\d+\.\d+)\b/m.exec(readFileSync(goMod, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`${goMod} has no k8s.io/kubernetes v1.X.Y requirement`);
  return match[1];
}

function compatHowToGet(version: string): string {
  return `Build it with \`${COMPAT_BUILD_COMMAND}\` (kube-apiserver ${version} from the Go module proxy, needs Go >= 1.26; cached in ~/.cache/pod-identity/compat-apiserver), or set ${COMPAT_APISERVER_ENV} to a directory holding kube-apiserver ${version}.`;
}

/**
 * Finds the compat kube-apiserver: the directory in POD_IDENTITY_COMPAT_APISERVER, else the build
 * script's cache (`--locate`, which builds nothing), and checks that `--version` names the pinned
 * version. Throws naming the command that builds it.
 */
export async function locateCompatApiServer(env: NodeJS.ProcessEnv = process.env): Promise<CompatApiServer> {
  const version = compatKubeVersion();
  let dir = env[COMPAT_APISERVER_ENV] ?? '';
  if (dir === '') {
    const located = await run('bash', [COMPAT_BUILD_SCRIPT, '--locate'], { cwd: repoRoot, timeoutMs: 30_000, env: { ...process.env, ...env } });
    if (located.code !== 0) throw new Error(`The compat kube-apiserver ${version} is missing: ${located.stderr.trim()}. ${compatHowToGet(version)}`);
    dir = located.stdout.trim().split('\n').at(-1) ?? '';
  }
  const kubeApiserver = path.resolve(dir, SPEC.kubeApiserver.file);
  if (!(await isExecutable(kubeApiserver))) throw new Error(`The compat kube-apiserver ${version} is missing: no executable ${kubeApiserver}. ${compatHowToGet(version)}`);
  const printed = await run(kubeApiserver, ['--version'], { timeoutMs: 10_000 });
  // A directory given by hand may hold another release.
  if (printed.code !== 0 || printed.stdout.trim() !== `Kubernetes ${version}`) {
    throw new Error(`${kubeApiserver} --version says ${JSON.stringify(printed.stdout.trim() || printed.stderr.trim().slice(0, 200))} (exit ${printed.code}), not Kubernetes ${version}. ${compatHowToGet(version)}`);
  }
  return { version, kubeApiserver };
}
