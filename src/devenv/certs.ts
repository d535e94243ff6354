import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runOk } from './exec.ts';

// P-256 keys: much faster to generate than RSA, and what envtest's TinyCA uses.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const DAYS = '7';

export interface KeyPair {
  readonly certPath: string;
  readonly keyPath: string;
}

/** File names of the CA inside a control plane's dir; identities.ts reads the CA key back from there. */
export function caFiles(dir: string): KeyPair {
  return { certPath: path.join(dir, 'ca.crt'), keyPath: path.join(dir, 'ca.key') };
}

function openssl(args: readonly string[]): Promise<string> {
  return runOk('openssl', args, { timeoutMs: 30_000 });
}

/** `/O=a/O=b/CN=x` with openssl's backslash escaping, so names may contain `/`, `+` or `=`. */
function subject(cn: string, orgs: readonly string[]): string {
  const esc = (v: string): string => v.replace(/[\\/+=]/g, (c) => `\\${c}`);
  return [...orgs.map((o) => `/O=${esc(o)}`), `/CN=${esc(cn)}`].join('');
}

/** A self-signed CA that signs the serving cert and every client cert. */
export async function createCa(dir: string): Promise<KeyPair> {
  const ca = caFiles(dir);
  await openssl([
    'req', '-x509', ...EC_KEY, '-keyout', ca.keyPath, '-out', ca.certPath, '-days', DAYS,
    '-subj', '/CN=pod-identity-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return ca;
}

async function issue(ca: KeyPair, stem: string, subj: string, extensions: string): Promise<KeyPair> {
  const keyPath = `${stem}.key`;
  const certPath = `${stem}.crt`;
  const csr = `${stem}.csr`;
  const ext = `${stem}.ext`;
  await writeFile(ext, extensions);
  await openssl(['req', ...EC_KEY, '-keyout', keyPath, '-out', csr, '-subj', subj]);
  // A random serial instead of -CAcreateserial: concurrent issuance would race on the .srl file.
  await openssl([
    'x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath,
    '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', DAYS, '-out', certPath, '-extfile', ext,
  ]);
  return { certPath, keyPath };
}

/**
 * Serving cert for the apiserver on loopback; `extra` adds the names pods and nodes dial it by (its
 * advertise address, the `kubernetes` Service IP and DNS names) when real nodes run.
 */
export function issueServingCert(ca: KeyPair, dir: string, extra: { readonly ips?: readonly string[]; readonly dnsNames?: readonly string[] } = {}): Promise<KeyPair> {
  const names = [
    'DNS:localhost',
    ...(extra.dnsNames ?? []).map((n) => `DNS:${n}`),
    'IP:127.0.0.1',
    ...(extra.ips ?? []).map((ip) => `IP:${ip}`),
  ];
  return issue(
    ca,
    path.join(dir, 'apiserver'),
    '/CN=localhost',
    `subjectAltName=${names.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`,
  );
}

/** Client cert: the apiserver maps CN to the user name and each O to a group. */
export function issueClientCert(ca: KeyPair, stem: string, user: string, groups: readonly string[]): Promise<KeyPair> {
  if (user === '') throw new Error('client cert user name must not be empty');
  return issue(ca, stem, subject(user, groups), 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
}

/** RSA key pair the apiserver signs (and verifies) ServiceAccount tokens with. */
export async function createServiceAccountKeys(dir: string): Promise<{ privatePath: string; publicPath: string }> {
  const privatePath = path.join(dir, 'sa.key');
  const publicPath = path.join(dir, 'sa.pub');
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', privatePath]);
  await openssl(['pkey', '-in', privatePath, '-pubout', '-out', publicPath]);
  return { privatePath, publicPath };
}
