import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { inspect } from 'node:util';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../../src/azure/secret.ts';
import { decodePkcs12, readClientCertificate, readClientSecret, ServicePrincipalCredentialError, type ServicePrincipalCredentialProblem } from '../../../src/azure/service-principal.ts';
import { createCertificateAuthority, createSelfSignedCertificate, toPkcs12, type KeyPairPem } from '../../../src/lib/pki.ts';

const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64');
const source = { namespace: 'apps', name: 'sp-credential' };

function failure(fn: () => unknown): ServicePrincipalCredentialError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ServicePrincipalCredentialError) return error;
    throw error;
  }
  throw new Error('expected a ServicePrincipalCredentialError');
}

function expectProblem(fn: () => unknown, problem: ServicePrincipalCredentialProblem, ...mentions: string[]): ServicePrincipalCredentialError {
  const error = failure(fn);
  expect(error.problem).toBe(problem);
  expect(error.code).toBe('PI_SP_CREDENTIAL');
  expect(error.message).toMatch(/^secret apps\/sp-credential: /);
  for (const text of mentions) expect(error.message).toContain(text);
  return error;
}

describe('readClientSecret', () => {
  it('reads key clientSecret, also among other keys', () => {
    const secret = readClientSecret({ clientSecret: b64('s3cret~value'), other: b64('x') }, source);
    expect(secret).toBeInstanceOf(Secret);
    expect(secret.reveal()).toBe('s3cret~value');
    expect(String(secret)).toBe('[redacted]');
  });

  it('reads the only key, whatever its name', () => {
    expect(readClientSecret({ password: b64('only-one') }, source).reveal()).toBe('only-one');
  });

  it('drops the trailing newline `echo … | base64` leaves', () => {
    expect(readClientSecret({ clientSecret: b64('value\n') }, source).reveal()).toBe('value');
    expect(readClientSecret({ clientSecret: b64('value\r\n') }, source).reveal()).toBe('value');
  });

  it('several keys and no clientSecret: an error naming the keys, never the values', () => {
    const error = expectProblem(() => readClientSecret({ a: b64('value-a'), b: b64('value-b') }, source), 'ambiguous-key', '"a", "b"', '"clientSecret"');
    expect(error.keys).toEqual(['a', 'b']);
    expect(error.message).not.toContain('value-a');
    expect(error.message).not.toContain(b64('value-a'));
  });

  it('no data, an empty value, a value that is not base64', () => {
    expectProblem(() => readClientSecret(undefined, source), 'no-data', 'has no data');
    expectProblem(() => readClientSecret({}, source), 'no-data');
    expectProblem(() => readClientSecret({ clientSecret: '' }, source), 'empty-value', '"clientSecret" is empty');
    expectProblem(() => readClientSecret({ clientSecret: b64('\n') }, source), 'empty-value');
    expectProblem(() => readClientSecret({ clientSecret: 'not base64!' }, source), 'not-base64');
  });
});

// --- PKCS#12 bundles made with node-forge, including shapes forge's toPkcs12Asn1 cannot make -------

const { asn1 } = forge;
const OID = {
  data: '1.2.840.113549.1.7.1',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
};
const oid = (value: string): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(value).getBytes());
/** `[0] EXPLICIT` (tag number 0 is `Type.NONE` in forge's enum). */
const explicit0 = (value: forge.asn1.Asn1): forge.asn1.Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, asn1.Type.NONE, true, [value]);
const octets = (bytes: string): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes);
const sequence = (items: forge.asn1.Asn1[]): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
const der = (node: forge.asn1.Asn1): string => asn1.toDer(node).getBytes();
const fromDer = (bytes: Buffer): forge.asn1.Asn1 => asn1.fromDer(forge.util.createBuffer(bytes.toString('binary')));

const pkcs8Der = (keyPem: string): Buffer => createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
const certDer = (certPem: string): Buffer => new X509Certificate(certPem).raw;

/** An unencrypted PFX without a MAC holding these key bags (PKCS#8 DER) and certificates (DER). */
function craftPkcs12(keys: readonly Buffer[], certificates: readonly Buffer[]): Buffer {
  const bags = [
    ...keys.map((key) => sequence([oid(OID.keyBag), explicit0(fromDer(key))])),
    ...certificates.map((cert) => sequence([oid(OID.certBag), explicit0(sequence([oid(OID.x509Certificate), explicit0(octets(cert.toString('binary')))]))])),
  ];
  const contentInfo = (content: forge.asn1.Asn1): forge.asn1.Asn1 => sequence([oid(OID.data), explicit0(octets(der(content)))]);
  const version = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(3).getBytes());
  const pfx = sequence([version, contentInfo(sequence([contentInfo(sequence(bags))]))]);
  return Buffer.from(der(pfx), 'binary');
}

const pair: KeyPairPem = createSelfSignedCertificate('sp unit test');
const pkcs12 = toPkcs12(pair, 'p12-pass');
const data = (fields: Record<string, string | Buffer>): Record<string, string> => Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, b64(value)]));

describe('readClientCertificate', () => {
  it('decodes PKCS#12 into the PEM certificate and its RSA key (PKCS#8), both Secret-wrapped where secret', () => {
    const result = readClientCertificate(data({ certificate: pkcs12, password: 'p12-pass' }), source);
    expect(new X509Certificate(result.certificatePem).fingerprint256).toBe(new X509Certificate(pair.certPem).fingerprint256);
    expect(result.privateKeyPem.reveal()).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(createPrivateKey(result.privateKeyPem.reveal()).export({ type: 'pkcs8', format: 'der' }).equals(pkcs8Der(pair.keyPem))).toBe(true);
    expect(result.pem.reveal()).toBe(`${result.certificatePem}${result.privateKeyPem.reveal()}`);
    expect(result.thumbprint).toBe(new X509Certificate(pair.certPem).fingerprint.replace(/:/g, ''));
    // Nothing secret when printed.
    for (const printed of [JSON.stringify(result), inspect(result), String(result.pem)]) expect(printed).not.toContain('PRIVATE KEY');
  });

  it('a password with a trailing newline (written by echo) still opens the bundle', () => {
    expect(readClientCertificate(data({ certificate: pkcs12, password: 'p12-pass\n' }), source).thumbprint).toMatch(/^[0-9A-F]{40}$/);
  });

  it('a bundle without password and no password key', () => {
    expect(readClientCertificate(data({ certificate: toPkcs12(pair, '') }), source).certificatePem).toContain('BEGIN CERTIFICATE');
  });

  it('wrong password: a clear error, without the password', () => {
    const error = expectProblem(() => readClientCertificate(data({ certificate: pkcs12, password: 'not-the-pass' }), source), 'wrong-password', 'wrong password');
    expect(error.message).not.toContain('not-the-pass');
    expectProblem(() => readClientCertificate(data({ certificate: pkcs12 }), source), 'wrong-password', 'no key "password"');
  });

  it('not PKCS#12: PEM text, or DER of something else', () => {
    expectProblem(() => readClientCertificate(data({ certificate: pair.certPem, password: 'p' }), source), 'not-pkcs12', 'not a PKCS#12');
    expectProblem(() => readClientCertificate(data({ certificate: certDer(pair.certPem), password: 'p' }), source), 'not-pkcs12', 'not a PKCS#12');
  });

  it('an EC key is refused as not RSA, naming the algorithm', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'der' });
    expectProblem(() => readClientCertificate(data({ certificate: craftPkcs12([ec], [certDer(pair.certPem)]), password: '' }), source), 'key-not-rsa', 'is EC, not RSA');
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' });
    expectProblem(() => decodePkcs12(craftPkcs12([ed], [certDer(pair.certPem)]), '', source), 'key-not-rsa', 'is Ed25519');
  });

  it('no private key, no certificate, or no certificate for the key', () => {
    expectProblem(() => decodePkcs12(craftPkcs12([], [certDer(pair.certPem)]), '', source), 'no-private-key');
    expectProblem(() => decodePkcs12(craftPkcs12([pkcs8Der(pair.keyPem)], []), '', source), 'no-certificate');
    const other = createSelfSignedCertificate('someone else');
    expectProblem(() => decodePkcs12(craftPkcs12([pkcs8Der(pair.keyPem)], [certDer(other.certPem)]), '', source), 'certificate-key-mismatch');
  });

  it('with a chain, picks the certificate that matches the key', () => {
    const ca = createCertificateAuthority('unit CA');
    const leaf = ca.issue({ commonName: 'sp leaf', usage: 'client' });
    const result = decodePkcs12(craftPkcs12([pkcs8Der(leaf.keyPem)], [certDer(ca.certPem), certDer(leaf.certPem)]), '', source);
    expect(new X509Certificate(result.certificatePem).subject).toBe('CN=sp leaf');
  });

  it('missing certificate key, no data', () => {
    const error = expectProblem(() => readClientCertificate(data({ clientSecret: 'x' }), source), 'missing-key', 'no key "certificate"', '"clientSecret"');
    expect(error.keys).toEqual(['clientSecret']);
    expectProblem(() => readClientCertificate(undefined, source), 'no-data');
    expectProblem(() => readClientCertificate({ certificate: '' }, source), 'empty-value');
  });
});
