/**
 * Scans captured process output for credentials (issue 8 "Secrets in logs"): access tokens and any
 * other JWT (service-account tokens included), known client secrets and passwords, private keys,
 * certificates and PKCS#12 blobs, `Bearer`/`Basic` credentials, `client_secret=`-style form values and
 * values shaped like Entra ID client secrets. The suites run MIC, NMI and the simulator at debug level and feed
 * everything they printed through {@link scanForSecrets}; a finding is a breach.
 * @module
 */

export interface SecretFinding {
  /** What was found: `jwt`, `known-secret`, `pem`, `base64-blob`, `bearer`, `form-secret`, `entra-secret`. */
  readonly kind: string;
  /** Which output (process name) it was in. */
  readonly source: string;
  /** 1-based line number in that output. */
  readonly line: number;
  /** The match with its middle masked, so the report itself leaks nothing. */
  readonly excerpt: string;
}

// Three base64url segments, the first two JSON objects ("eyJ" = '{"'): every JWT, signed or not.
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;
const PEM = /-----BEGIN [A-Z0-9 ]*(?:PRIVATE KEY|CERTIFICATE)-----/g;
// DER material (PKCS#12, certificates, keys) base64-encoded starts with "MII"; 200+ characters of it
// is key or certificate material, never a resource ID or a log message.
const BASE64_DER = /MII[A-Za-z0-9+/]{200,}={0,2}/g;
// An Authorization header value or its text: `Bearer <credential>` / `Basic <credential>` (not a redaction marker).
const BEARER = /\b(?:Bearer|Basic)\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{16,}/g;
// A credential in a form body, query or `key=value` log text (OAuth2 client credentials, passwords).
const FORM_SECRET = /\b(?:client_secret|client_assertion|password|refresh_token|access_token)=(?!\[REDACTED\])[^&\s"',;]{6,}/gi;
// Entra ID client secret values have this shape (3 characters, a digit, "Q~", 31–34 more).
const ENTRA_SECRET = /(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])/g;
const PATTERNS = [['jwt', JWT], ['pem', PEM], ['base64-blob', BASE64_DER], ['bearer', BEARER], ['form-secret', FORM_SECRET], ['entra-secret', ENTRA_SECRET]] as const;

export function mask(text: string): string {
  if (text.length <= 12) return `${text.slice(0, 2)}…`;
  return `${text.slice(0, 6)}…${text.slice(-4)} (${text.length} chars)`;
}

/**
 * Every credential in `text` (one process's output). `knownSecrets` are the exact strings the suite
 * created (client secrets, certificate passwords); each must never appear, whatever its shape.
 */
export function scanForSecrets(source: string, text: string, knownSecrets: readonly string[] = []): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const secrets = knownSecrets.filter((secret) => secret.length >= 8);
  text.split('\n').forEach((content, index) => {
    const line = index + 1;
    for (const [kind, pattern] of PATTERNS) {
      for (const match of content.matchAll(pattern)) findings.push({ kind, source, line, excerpt: mask(match[0]) });
    }
    for (const secret of secrets) {
      if (content.includes(secret)) findings.push({ kind: 'known-secret', source, line, excerpt: mask(secret) });
    }
  });
  return findings;
}

/** Scans several outputs; returns one description per finding (for {@link CountsBuilder.breach}). */
export function secretBreaches(outputs: Readonly<Record<string, string>>, knownSecrets: readonly string[] = []): string[] {
  return Object.entries(outputs).flatMap(([source, text]) =>
    scanForSecrets(source, text, knownSecrets).map((finding) => `${finding.kind} in ${finding.source} output, line ${finding.line}: ${finding.excerpt}`),
  );
}
