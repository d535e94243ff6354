import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { caFiles, issueClientCert } from './certs.ts';
import type { ControlPlaneInfo } from './description.ts';
import { runKubectl } from './kubectl.ts';
import { writeKubeconfig } from './kubeconfig.ts';

type PlaneRef = Pick<ControlPlaneInfo, 'dir' | 'server' | 'caPem' | 'binDir' | 'kubeconfigPath'>;

async function usersDir(plane: PlaneRef): Promise<string> {
  const dir = path.join(plane.dir, 'users');
  await mkdir(dir, { recursive: true });
  return dir;
}

const fileSafe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_');

/**
 * A kubeconfig for an x509 user `name` in `groups`, signed by the plane's CA (whose key is kept in
 * the plane's dir, so test processes can issue certs without the ControlPlane object). No RBAC is granted.
 */
export async function createClientCertUser(plane: PlaneRef, name: string, groups: readonly string[]): Promise<string> {
  const stem = path.join(await usersDir(plane), `${fileSafe(name)}-${randomBytes(3).toString('hex')}`);
  const pair = await issueClientCert(caFiles(plane.dir), stem, name, groups);
  const [certPem, keyPem] = await Promise.all([readFile(pair.certPath, 'utf8'), readFile(pair.keyPath, 'utf8')]);
  return writeKubeconfig(`${stem}.kubeconfig`, plane, name, { kind: 'cert', certPem, keyPem });
}

/**
 * A kubeconfig that authenticates as `system:serviceaccount:<namespace>:<serviceAccount>` with a token
 * from the TokenRequest API (via `kubectl create token`). Creates the ServiceAccount if it is missing;
 * the namespace must exist. The API enforces expirationSeconds >= 600.
 */
export async function serviceAccountKubeconfig(
  plane: PlaneRef,
  namespace: string,
  serviceAccount: string,
  expirationSeconds = 3600,
): Promise<string> {
  const created = await runKubectl(plane, ['create', 'serviceaccount', serviceAccount, '-n', namespace]);
  if (created.code !== 0 && !created.stderr.includes('AlreadyExists') && !created.stderr.includes('already exists')) {
    throw new Error(`creating ServiceAccount ${namespace}/${serviceAccount} failed: ${created.stderr}`);
  }
  const r = await runKubectl(plane, ['create', 'token', serviceAccount, '-n', namespace, `--duration=${expirationSeconds}s`]);
  if (r.code !== 0) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} failed: ${r.stderr}`);
  const file = path.join(await usersDir(plane), `sa-${fileSafe(namespace)}-${fileSafe(serviceAccount)}-${randomBytes(3).toString('hex')}.kubeconfig`);
  return writeKubeconfig(file, plane, `system:serviceaccount:${namespace}:${serviceAccount}`, {
    kind: 'token',
    token: r.stdout.trim(),
  });
}
