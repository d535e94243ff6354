/**
 * Federated identity credentials in admin input (a state file's `identities[i].federatedIdentityCredentials`,
 * `POST /seed/federated-credential`): the rules ARM applies (name, https issuer, unique issuer +
 * subject, at most 20), reported as admin problems rather than ARM errors.
 * @module
 */
import { MAX_FEDERATED_CREDENTIALS_PER_IDENTITY } from '../arm/errors.ts';
import { FEDERATED_CREDENTIAL_NAME, isHttpsUrl } from '../arm/federated-credential-rules.ts';
import { AZURE_AD_TOKEN_EXCHANGE_AUDIENCE } from '../arm/wire/msi.ts';
import type { FederatedIdentityCredential } from '../state/model.ts';
import type { Fields } from './fields.ts';

const NAME_HINT = 'a credential name (3-120 letters, digits, - or _, starting with a letter or digit)';

/** One credential `{ name, issuer, subject, audiences? }`; `audiences` defaults to `[api://AzureADTokenExchange]`. */
export function readFederatedCredential(f: Fields): FederatedIdentityCredential {
  f.onlyKnown(['name', 'issuer', 'subject', 'audiences']);
  const name = f.requiredString('name', FEDERATED_CREDENTIAL_NAME, NAME_HINT);
  const issuer = f.requiredString('issuer');
  if (issuer !== '' && !isHttpsUrl(issuer)) f.problem('issuer', `${JSON.stringify(issuer)} is not an https URL`);
  const subject = f.requiredString('subject');
  const audiences = f.stringArray('audiences') ?? [AZURE_AD_TOKEN_EXCHANGE_AUDIENCE];
  if (audiences.length === 0) f.problem('audiences', 'must name at least one audience');
  return { name, issuer, subject, audiences };
}

/** Problems with a set of credentials of one identity: duplicate names or issuer + subject pairs, too many. */
export function federatedCredentialSetProblems(credentials: readonly FederatedIdentityCredential[]): string[] {
  const problems: string[] = [];
  if (credentials.length > MAX_FEDERATED_CREDENTIALS_PER_IDENTITY) problems.push(`at most ${MAX_FEDERATED_CREDENTIALS_PER_IDENTITY} credentials per identity (Azure's limit); got ${credentials.length}`);
  const names = new Set<string>();
  const pairs = new Set<string>();
  for (const credential of credentials) {
    const name = credential.name.toLowerCase();
    if (names.has(name)) problems.push(`credential name ${JSON.stringify(credential.name)} is used twice`);
    names.add(name);
    const pair = JSON.stringify([credential.issuer, credential.subject]);
    if (pairs.has(pair)) problems.push(`issuer ${JSON.stringify(credential.issuer)} and subject ${JSON.stringify(credential.subject)} are used by two credentials`);
    pairs.add(pair);
  }
  return problems;
}

/** An identity's `federatedIdentityCredentials` list, checked as a set. */
export function readFederatedCredentials(f: Fields): FederatedIdentityCredential[] | undefined {
  const credentials = f.objects('federatedIdentityCredentials', readFederatedCredential);
  if (credentials !== undefined) for (const problem of federatedCredentialSetProblems(credentials)) f.problem('federatedIdentityCredentials', problem);
  return credentials;
}
