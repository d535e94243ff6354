/**
 * A service principal's credential from the Kubernetes Secret an AzureIdentity names in
 * `clientPassword` (aad-pod-identity-behaviour.md §1.2, §3.3.3). Pure: takes the Secret's `data`
 * (base64 values, as the API server returns them) and returns {@link Secret}-wrapped material.
 *
 * - Type 1: key `clientSecret`, or the only key when there is exactly one. (Upstream took the first
 *   value of a Go map, i.e. a random one when there were several; we refuse to guess.)
 * - Type 2: `certificate` (PKCS#12 bytes) and `password` (a missing `password` is the empty password,
 *   as upstream); decoded into a PEM certificate and its RSA private key.
 *
 * Errors name the Secret and its keys, never a value.
 * @module
 */
import { createHash } from 'node:crypto';
import forge from 'node-forge';
import { PodIdentityError } from '../lib/errors.ts';
import { Secret } from './secret.ts';

/** A Secret's `data`: key → base64. */
export type SecretData = Readonly<Record<string, string>>;

/** Which Secret the data came from, for error messages. */
export interface SecretSource {
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
}

export const CLIENT_SECRET_KEY = 'clientSecret';
export const CERTIFICATE_KEY = 'certificate';
export const CERTIFICATE_PASSWORD_KEY = 'password';

export type ServicePrincipalCredentialProblem =
  | 'no-data'
  | 'missing-key'
  | 'ambiguous-key'
  | 'empty-value'
  | 'not-base64'
  | 'not-pkcs12'
  | 'wrong-password'
  | 'invalid-pkcs12'
  | 'no-private-key'
  | 'key-not-rsa'
  | 'no-certificate'
  | 'certificate-key-mismatch';

/** The Secret does not hold a usable credential. Retrying cannot help until the Secret changes. */
export class ServicePrincipalCredentialError extends PodIdentityError {
  readonly problem: ServicePrincipalCredentialProblem;
  /** `namespace/name` of the Secret. */
  readonly secret: string;
  /** The keys the Secret has (names only). */
  readonly keys: readonly string[];

  constructor(problem: ServicePrincipalCredentialProblem, source: SecretSource | undefined, keys: readonly string[], detail: string, options?: ErrorOptions) {
    const secret = secretName(source);
    super('PI_SP_CREDENTIAL', `secret ${secret}: ${detail}`, options);
    this.problem = problem;
    this.secret = secret;
    this.keys = keys;
  }
}

function secretName(source: SecretSource | undefined): string {
  const name = source?.name === undefined || source.name === '' ? '<unnamed>' : source.name;
  return source?.namespace === undefined || source.namespace === '' ? name : `${source.namespace}/${name}`;
}

const keyList = (keys: readonly string[]): string => (keys.length === 0 ? 'none' : keys.map((key) => JSON.stringify(key)).join(', '));

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64(data: SecretData, key: string, source: SecretSource | undefined): Buffer {
  const value = (data[key] ?? '').replace(/\s+/g, '');
  if (!BASE64.test(value) || value.length % 4 === 1) {
    throw new ServicePrincipalCredentialError('not-base64', source, Object.keys(data), `key ${JSON.stringify(key)} is not base64 (a Secret's data must be base64-encoded)`);
  }
  return Buffer.from(value, 'base64');
}

function requireData(data: SecretData | undefined, source: SecretSource | undefined): SecretData {
  if (data === undefined || Object.keys(data).length === 0) throw new ServicePrincipalCredentialError('no-data', source, [], 'has no data');
  return data;
}

/** The client secret of a type-1 identity. */
export function readClientSecret(data: SecretData | undefined, source?: SecretSource): Secret {
  const present = requireData(data, source);
  const keys = Object.keys(present);
  const only = keys.length === 1 ? keys[0] : undefined;
  const key = CLIENT_SECRET_KEY in present ? CLIENT_SECRET_KEY : only;
  if (key === undefined) {
    throw new ServicePrincipalCredentialError(
      'ambiguous-key',
      source,
      keys,
      `has no key ${JSON.stringify(CLIENT_SECRET_KEY)} and ${keys.length} others (${keyList(keys)}); put the client secret under ${JSON.stringify(CLIENT_SECRET_KEY)}`,
    );
  }
  // `echo secret | base64` leaves a newline; Entra secrets never end in one.
  const value = decodeBase64(present, key, source).toString('utf8').replace(/[\r\n]+$/, '');
  if (value === '') throw new ServicePrincipalCredentialError('empty-value', source, keys, `key ${JSON.stringify(key)} is empty`);
  return new Secret(value);
}

/** A certificate credential, ready for ClientCertificateCredential. */
export interface ClientCertificate {
  /** The certificate (public), PEM. */
  readonly certificatePem: string;
  /** Its RSA private key, PKCS#8 PEM. */
  readonly privateKeyPem: Secret;
  /** Certificate then key, the one string `ClientCertificateCredential` takes. */
  readonly pem: Secret;
  /** SHA-1 thumbprint of the certificate, upper-case hex (as the Azure portal shows it). */
  readonly thumbprint: string;
}

/** The certificate and key of a type-2 identity. */
export function readClientCertificate(data: SecretData | undefined, source?: SecretSource): ClientCertificate {
  const present = requireData(data, source);
  const keys = Object.keys(present);
  if (!(CERTIFICATE_KEY in present)) {
    throw new ServicePrincipalCredentialError('missing-key', source, keys, `has no key ${JSON.stringify(CERTIFICATE_KEY)} (keys: ${keyList(keys)}); a certificate identity needs "${CERTIFICATE_KEY}" (PKCS#12) and "${CERTIFICATE_PASSWORD_KEY}"`);
  }
  const pkcs12 = decodeBase64(present, CERTIFICATE_KEY, source);
  if (pkcs12.length === 0) throw new ServicePrincipalCredentialError('empty-value', source, keys, `key ${JSON.stringify(CERTIFICATE_KEY)} is empty`);
  const hasPassword = CERTIFICATE_PASSWORD_KEY in present;
  const password = hasPassword ? decodeBase64(present, CERTIFICATE_PASSWORD_KEY, source).toString('utf8') : '';
  try {
    return decodePkcs12(pkcs12, password, source, keys);
  } catch (error) {
    if (!hasPassword && error instanceof ServicePrincipalCredentialError && error.problem === 'wrong-password') {
      throw new ServicePrincipalCredentialError('wrong-password', source, keys, `the PKCS#12 bundle needs a password and the Secret has no key ${JSON.stringify(CERTIFICATE_PASSWORD_KEY)}`, { cause: error.cause });
    }
    throw error;
  }
}

const KEY_ALGORITHMS: Readonly<Record<string, string>> = {
  '1.2.840.10045.2.1': 'EC',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
  '1.2.840.10040.4.1': 'DSA',
  '1.2.840.113549.1.1.10': 'RSA-PSS',
};

/** The algorithm of a PKCS#8 PrivateKeyInfo forge could not read as RSA. */
function keyAlgorithmOf(privateKeyInfo: forge.asn1.Asn1 | undefined): string {
  try {
    const algorithm = (privateKeyInfo?.value as forge.asn1.Asn1[] | undefined)?.[1];
    const oidNode = (algorithm?.value as forge.asn1.Asn1[] | undefined)?.[0];
    if (oidNode === undefined || typeof oidNode.value !== 'string') return 'unknown';
    const oid = forge.asn1.derToOid(oidNode.value);
    return KEY_ALGORITHMS[oid] ?? `OID ${oid}`;
  } catch {
    return 'unknown';
  }
}

// PKCS#12 bag types (RFC 7292 §4.2); forge's `oids` table is typed as a string index.
const KEY_BAG = '1.2.840.113549.1.12.10.1.1';
const SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';

type Pkcs12Failure = 'not-pkcs12' | 'wrong-password' | 'invalid-pkcs12';

/** Forge's messages for a bag it cannot read; the password ones are what a wrong password produces. */
function classifyForgeError(message: string): Pkcs12Failure {
  if (/not an PKCS#12 PFX|Only PKCS#12 PFX in password integrity mode/i.test(message)) return 'not-pkcs12';
  if (/password|MAC could not be verified|decrypt/i.test(message)) return 'wrong-password';
  return 'invalid-pkcs12';
}

function openPkcs12(asn1: forge.asn1.Asn1, password: string): forge.pkcs12.Pkcs12Pfx {
  try {
    return forge.pkcs12.pkcs12FromAsn1(asn1, false, password);
  } catch (error) {
    // A password taken from a file written by `echo` ends in a newline the bundle was not made with.
    const trimmed = password.replace(/[\r\n]+$/, '');
    if (trimmed !== password) return forge.pkcs12.pkcs12FromAsn1(asn1, false, trimmed);
    throw error;
  }
}

/** forge's types say `undefined`, but it sets `null` for a key or certificate it cannot read. */
function isPresent<T>(value: T | null | undefined): value is T {
  return value !== null && value !== undefined;
}

/** Decodes a PKCS#12 bundle into the certificate matching its RSA private key. */
export function decodePkcs12(bytes: Uint8Array, password: string, source?: SecretSource, keys: readonly string[] = [CERTIFICATE_KEY, CERTIFICATE_PASSWORD_KEY]): ClientCertificate {
  const fail = (problem: ServicePrincipalCredentialProblem, detail: string, cause?: unknown): ServicePrincipalCredentialError =>
    new ServicePrincipalCredentialError(problem, source, keys, detail, cause === undefined ? undefined : { cause });
  let asn1: forge.asn1.Asn1;
  try {
    asn1 = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(bytes).toString('binary')), false);
  } catch (error) {
    throw fail('not-pkcs12', `key ${JSON.stringify(CERTIFICATE_KEY)} is not a PKCS#12 (PFX) bundle: not DER`, error);
  }
  let pfx: forge.pkcs12.Pkcs12Pfx;
  try {
    pfx = openPkcs12(asn1, password);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const problem = classifyForgeError(message);
    const detail =
      problem === 'not-pkcs12'
        ? `key ${JSON.stringify(CERTIFICATE_KEY)} is not a PKCS#12 (PFX) bundle`
        : problem === 'wrong-password'
          ? `the PKCS#12 bundle cannot be opened with the password in key ${JSON.stringify(CERTIFICATE_PASSWORD_KEY)} (wrong password?)`
          : `the PKCS#12 bundle cannot be read: ${message}`;
    throw fail(problem, detail, error);
  }

  const keyBags = [
    ...(pfx.getBags({ bagType: SHROUDED_KEY_BAG })[SHROUDED_KEY_BAG] ?? []),
    ...(pfx.getBags({ bagType: KEY_BAG })[KEY_BAG] ?? []),
  ];
  if (keyBags.length === 0) throw fail('no-private-key', 'the PKCS#12 bundle holds no private key');
  // forge reads RSA keys only; any other key is left as its PrivateKeyInfo ASN.1.
  const rsaKeys = keyBags.flatMap((bag) => (isPresent(bag.key) ? [bag.key] : []));
  if (rsaKeys.length === 0) {
    const [first] = keyBags;
    throw fail('key-not-rsa', `the private key in the PKCS#12 bundle is ${keyAlgorithmOf(first?.asn1)}, not RSA (Entra certificate credentials need an RSA key)`);
  }
  const certBags = pfx.getBags({ bagType: CERT_BAG })[CERT_BAG] ?? [];
  const certificates = certBags.flatMap((bag) => (isPresent(bag.cert) ? [bag.cert] : []));
  if (certBags.length === 0) throw fail('no-certificate', 'the PKCS#12 bundle holds no certificate');
  for (const key of rsaKeys) {
    const certificate = certificates.find((candidate) => {
      const publicKey = candidate.publicKey as Partial<forge.pki.rsa.PublicKey>;
      return publicKey.n !== undefined && publicKey.e !== undefined && publicKey.n.equals(key.n) && publicKey.e.equals(key.e);
    });
    if (certificate === undefined) continue;
    const certificatePem = forge.pki.certificateToPem(certificate).replace(/\r\n/g, '\n');
    const privateKeyPem = forge.pki.privateKeyInfoToPem(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key))).replace(/\r\n/g, '\n');
    const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(certificate)).getBytes(), 'binary');
    return {
      certificatePem,
      privateKeyPem: new Secret(privateKeyPem),
      pem: new Secret(`${certificatePem}${privateKeyPem}`),
      thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
    };
  }
  throw fail('certificate-key-mismatch', `no certificate in the PKCS#12 bundle matches its RSA private key (${certBags.length} certificate(s))`);
}
