/**
 * Federated identity credentials (FICs) of a user-assigned identity, as pure functions: the subject
 * NMI's service-account token carries, which of a credential's issuer / subject / audiences differ
 * from what NMI presents, and what `identity create --federated` must do (reuse, create or update).
 * Entra ID matches a token to a credential by exact issuer and subject strings and requires the
 * token's audience among the credential's audiences.
 * @module
 */
import { createHash } from 'node:crypto';
import { FEDERATED_TOKEN_AUDIENCE } from '../../api/index.ts';
import { AzureCommandError } from '../azure/arm-error.ts';

/** Where the chart installs NMI by default, and its ServiceAccount (`<release>-nmi` of release `pod-identity`). */
export const DEFAULT_NMI_NAMESPACE = 'kube-system';
export const DEFAULT_NMI_SERVICE_ACCOUNT = 'pod-identity-nmi';

/** Entra ID's limit of federated identity credentials per user-assigned identity. */
export const MAX_FEDERATED_CREDENTIALS = 20;

/** The `sub` claim of a service-account token. */
export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

/** A credential as ARM returns it (the fields that matter). */
export interface FederatedCredentialView {
  readonly name: string;
  readonly issuer: string;
  readonly subject: string;
  readonly audiences: readonly string[];
}

/** What NMI presents: its cluster's issuer, its ServiceAccount's subject, the token exchange audience. */
export interface ExpectedCredential {
  readonly issuer: string;
  readonly subject: string;
  readonly audience: string;
}

export function expectedCredential(issuer: string, subject: string): ExpectedCredential {
  return { issuer, subject, audience: FEDERATED_TOKEN_AUDIENCE };
}

export type CredentialField = 'issuer' | 'subject' | 'audience';

/**
 * Which fields of `credential` would make Entra ID refuse NMI's token. `undefined` expected parts
 * are not known (not checked).
 */
export function credentialMismatches(credential: FederatedCredentialView, expected: Partial<ExpectedCredential>): CredentialField[] {
  const wrong: CredentialField[] = [];
  if (expected.issuer !== undefined && credential.issuer !== expected.issuer) wrong.push('issuer');
  if (expected.subject !== undefined && credential.subject !== expected.subject) wrong.push('subject');
  if (expected.audience !== undefined && !credential.audiences.includes(expected.audience)) wrong.push('audience');
  return wrong;
}

/** One line per wrong field of `credential`: what it has and what NMI presents. */
export function describeMismatches(credential: FederatedCredentialView, wrong: readonly CredentialField[], expected: Partial<ExpectedCredential>): string[] {
  return wrong.map((field) => {
    switch (field) {
      case 'issuer':
        return `issuer is ${JSON.stringify(credential.issuer)}, the cluster's is ${JSON.stringify(expected.issuer ?? '')}`;
      case 'subject':
        return `subject is ${JSON.stringify(credential.subject)}, NMI's token says ${JSON.stringify(expected.subject ?? '')}`;
      case 'audience':
        return `audiences are ${JSON.stringify(credential.audiences)}, without ${JSON.stringify(expected.audience ?? '')}`;
    }
  });
}

/** Credential names: 3–120 characters, letters, digits, `-` and `_`, starting with a letter or digit. */
export function checkCredentialName(text: string): string | undefined {
  return /^[a-zA-Z0-9][\w-]{2,119}$/.test(text) ? undefined : 'a credential name (3-120 letters, digits, - and _, starting with a letter or digit)';
}

/**
 * The default credential name: stable for one issuer and subject, so a second cluster trusting the
 * same identity gets a credential of its own instead of overwriting the first cluster's.
 */
export function defaultCredentialName(issuer: string, subject: string): string {
  return `pod-identity-${createHash('sha256').update(`${issuer}\n${subject}`).digest('hex').slice(0, 12)}`;
}

export type CredentialStep =
  /** A credential with this issuer and subject already accepts the audience. */
  | { readonly action: 'reuse'; readonly credential: FederatedCredentialView }
  | { readonly action: 'create'; readonly name: string }
  /** `previous` has this name (or this issuer and subject) but other content; `wrong` says what differs. */
  | { readonly action: 'update'; readonly name: string; readonly previous: FederatedCredentialView; readonly wrong: readonly CredentialField[] };

/**
 * What to do so that the identity trusts `expected`. A credential with the same issuer and subject
 * is reused under whatever name it has (Entra ID allows one per issuer and subject), or updated when
 * its audiences lack ours; otherwise `name` is created, or updated when it names a credential with
 * other content. A new credential beyond {@link MAX_FEDERATED_CREDENTIALS} is refused.
 */
export function planCredential(existing: readonly FederatedCredentialView[], expected: ExpectedCredential, name: string, identityName: string): CredentialStep {
  const sameTrust = existing.find((credential) => credential.issuer === expected.issuer && credential.subject === expected.subject);
  if (sameTrust !== undefined) {
    const wrong = credentialMismatches(sameTrust, expected);
    return wrong.length === 0 ? { action: 'reuse', credential: sameTrust } : { action: 'update', name: sameTrust.name, previous: sameTrust, wrong };
  }
  const sameName = existing.find((credential) => credential.name.toLowerCase() === name.toLowerCase());
  if (sameName !== undefined) return { action: 'update', name: sameName.name, previous: sameName, wrong: credentialMismatches(sameName, expected) };
  if (existing.length >= MAX_FEDERATED_CREDENTIALS) {
    throw new AzureCommandError(
      'request',
      `identity ${identityName} already has ${existing.length} federated identity credentials, the most Entra ID allows (${MAX_FEDERATED_CREDENTIALS})\n` +
        `  delete one it no longer needs (az identity federated-credential list/delete --identity-name ${identityName} -g <group>), give --federated-credential-name NAME of one to replace, or use another identity`,
      {},
    );
  }
  return { action: 'create', name };
}
