/**
 * Images for the nodes without a registry: `podman save --format docker-archive` once per image ID
 * (kept in the run's dir), then `ctr images import` into each node's containerd. The archive keeps the
 * image's name (localhost/pod-identity-nmi:0.1.0), which pod specs use with imagePullPolicy
 * IfNotPresent or Never, as a user with a private registry would.
 * @module
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { run, runOk } from '../exec.ts';

export interface SavedImage {
  readonly name: string;
  readonly archive: string;
}

export async function saveImage(name: string, dir: string): Promise<SavedImage> {
  const inspected = await run('podman', ['image', 'inspect', '--format', '{{.Id}}', name], { timeoutMs: 30_000 });
  if (inspected.code !== 0) {
    throw new Error(`image ${name} is not in podman's store: build it with scripts/build-images.sh (as root). ${inspected.stderr.trim()}`);
  }
  const archive = path.join(dir, `${inspected.stdout.trim().slice(0, 16)}.tar`);
  if (!existsSync(archive)) {
    await runOk('podman', ['save', '--format', 'docker-archive', '--output', `${archive}.tmp`, name], { timeoutMs: 300_000 });
    await runOk('mv', [`${archive}.tmp`, archive]);
  }
  return { name, archive };
}

/**
 * The pod sandbox image: only the static `pause` binary of tools/pause (scripts/build-node-binaries.sh),
 * imported into podman as `localhost/pod-identity-pause:<hash of the binary>`. Returns its name.
 */
export async function ensurePauseImage(pauseBinary: string, dir: string): Promise<string> {
  const hash = (await runOk('sha256sum', [pauseBinary])).slice(0, 12);
  const name = `localhost/pod-identity-pause:${hash}`;
  if ((await run('podman', ['image', 'exists', name], { timeoutMs: 30_000 })).code === 0) return name;
  const root = path.join(dir, 'pause-root');
  await runOk('mkdir', ['-p', root]);
  await runOk('install', ['-m', '0755', pauseBinary, path.join(root, 'pause')]);
  const tarball = path.join(dir, 'pause.tar');
  await runOk('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tarball, 'pause']);
  await runOk('podman', ['import', '--change', 'ENTRYPOINT ["/pause"]', tarball, name], { timeoutMs: 60_000 });
  return name;
}
