import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

export type Credentials =
  | { readonly kind: 'cert'; readonly certPem: string; readonly keyPem: string }
  | { readonly kind: 'token'; readonly token: string };

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Writes a single-context kubeconfig with inline data, so it stays valid if copied elsewhere. */
export async function writeKubeconfig(
  file: string,
  cluster: { readonly server: string; readonly caPem: string },
  userName: string,
  creds: Credentials,
): Promise<string> {
  const user =
    creds.kind === 'cert'
      ? { 'client-certificate-data': b64(creds.certPem), 'client-key-data': b64(creds.keyPem) }
      : { token: creds.token };
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: cluster.server, 'certificate-authority-data': b64(cluster.caPem) } }],
    users: [{ name: userName, user }],
    contexts: [{ name: userName, context: { cluster: 'test', user: userName } }],
    'current-context': userName,
  };
  await writeFile(file, stringify(doc), { mode: 0o600 });
  return file;
}
