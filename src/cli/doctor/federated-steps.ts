/**
 * The doctor's checks of a federated identity (AzureIdentity type 3), as pure functions of the
 * snapshot: (1) the cluster's service-account issuer serves Entra ID — https, its discovery document
 * names exactly this issuer, its JWKS has keys, all reachable anonymously; (2) the user-assigned
 * identity has a federated identity credential with that issuer, NMI's subject
 * (`system:serviceaccount:<NMI namespace>:<NMI service account>`) and the token exchange audience —
 * and if not, which of the three is wrong.
 * @module
 */
import { FEDERATED_TOKEN_AUDIENCE, IdentityType, parseUserAssignedIdentityId, type AzureIdentity } from '../../api/index.ts';
import { objectKey, type DesiredAssignment } from '../../mic/model.ts';
import {
  credentialMismatches,
  describeMismatches,
  serviceAccountSubject,
  type ExpectedCredential,
  type FederatedCredentialView,
} from '../federation/credential.ts';
import { discoveryUrl, ENABLE_ISSUER_FIX, ISSUER_FIX, unusableIssuer } from '../federation/issuer.ts';
import type { DoctorSnapshot, FederationFacts, FetchOutcome, StepStatus } from './model.ts';

/** What one step concludes. */
export interface StepVerdict {
  readonly status: StepStatus;
  readonly detail: string;
  readonly fix?: string | undefined;
}

const ANONYMOUS_DISCOVERY_FIX =
  'Self-managed: kubectl create clusterrolebinding service-account-issuer-discovery --clusterrole=system:service-account-issuer-discovery --group=system:unauthenticated ' +
  '(and let Entra ID reach the API server), or publish the discovery document and JWKS on a public host; AKS: az aks update --enable-oidc-issuer.';

/** Federated identities among the pod's assignments, one per AzureIdentity. */
export function federatedAssignments(assignments: readonly DesiredAssignment[]): DesiredAssignment[] {
  const seen = new Set<string>();
  return assignments.filter((assignment) => {
    if (assignment.identity.spec.type !== IdentityType.FederatedIdentity) return false;
    const key = identityKey(assignment.identity);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export const identityKey = (identity: AzureIdentity): string => objectKey(identity.metadata.namespace ?? '', identity.metadata.name ?? '');

/** Why a fetch failed, and the fix. */
function fetchFailure(outcome: Exclude<FetchOutcome, { kind: 'ok' }>, what: string): StepVerdict {
  switch (outcome.kind) {
    case 'network':
      return {
        status: 'fail',
        detail: `GET ${outcome.url} (the ${what}) failed from where doctor runs: ${outcome.message}`,
        fix:
          `Entra ID fetches it anonymously over HTTPS: make ${outcome.url} reachable from the internet with a certificate of a public CA ` +
          '(a private CA of a self-hosted issuer: --issuer-ca-file lets doctor check the rest).',
      };
    case 'http':
      return {
        status: 'fail',
        detail: `GET ${outcome.url} (the ${what}) answered ${outcome.status}${outcome.status === 401 || outcome.status === 403 ? ': anonymous requests are refused' : ''}`,
        fix: outcome.status === 401 || outcome.status === 403 ? ANONYMOUS_DISCOVERY_FIX : `Publish the ${what} at ${outcome.url}, or ${ENABLE_ISSUER_FIX}.`,
      };
    case 'invalid':
      return { status: 'fail', detail: `GET ${outcome.url} (the ${what}) returned ${outcome.message}`, fix: `Serve the ${what} as JSON at ${outcome.url}.` };
  }
}

/** Step `issuer`: the cluster's issuer can serve Entra ID. */
export function issuerVerdict(facts: FederationFacts | undefined): StepVerdict {
  if (facts === undefined) return { status: 'unknown', detail: 'the issuer was not read' };
  if (facts.issuer.kind === 'unknown') {
    return {
      status: 'unknown',
      detail: `the cluster's service-account issuer is not known: ${facts.issuer.reason}`,
      fix: 'Give it with --issuer URL (AKS: az aks show -g <group> -n <cluster> --query oidcIssuerProfile.issuerUrl -o tsv).',
    };
  }
  const { issuer, source } = facts.issuer;
  const unusable = unusableIssuer(issuer);
  if (unusable !== undefined) return { status: 'fail', detail: `${unusable} (${source})`, fix: `Enable the cluster's OIDC issuer (${ISSUER_FIX}).` };
  const probe = facts.probe;
  if (probe === undefined) return { status: 'unknown', detail: `issuer ${issuer} (${source}) was not fetched` };
  if (probe.discovery.kind !== 'ok') return fetchFailure(probe.discovery, 'discovery document');
  const document = (probe.discovery.json ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
  if (document.issuer !== issuer) {
    return {
      status: 'fail',
      detail: `${probe.discovery.url} names issuer ${JSON.stringify(document.issuer ?? null)}, but the cluster's tokens carry iss ${JSON.stringify(issuer)} (${source}): Entra ID refuses them`,
      fix: `Make the published discovery document and kube-apiserver's --service-account-issuer agree exactly (trailing slash included): "issuer": "${issuer}".`,
    };
  }
  const jwksUri = document.jwks_uri;
  if (typeof jwksUri !== 'string' || !jwksUri.startsWith('https://')) {
    return {
      status: 'fail',
      detail: `${probe.discovery.url} has ${typeof jwksUri === 'string' ? `jwks_uri ${jwksUri}, not https` : 'no jwks_uri'}`,
      fix: 'Run kube-apiserver with --service-account-jwks-uri=https://<public host>/openid/v1/jwks (or publish a discovery document naming an https JWKS).',
    };
  }
  const jwks = probe.jwks;
  if (jwks === undefined) return { status: 'unknown', detail: `JWKS ${jwksUri} was not fetched` };
  if (jwks.kind !== 'ok') return fetchFailure(jwks, 'JWKS');
  const keys = (jwks.json as { keys?: unknown } | null)?.keys;
  const count = Array.isArray(keys) ? keys.length : 0;
  if (count === 0) {
    return {
      status: 'fail',
      detail: `JWKS ${jwksUri} has no keys: Entra ID cannot check any token's signature`,
      fix: 'Publish the API server\'s signing keys there (kubectl get --raw /openid/v1/jwks shows them).',
    };
  }
  return { status: 'ok', detail: `issuer ${issuer} (${source}): ${discoveryUrl(issuer)} names it, JWKS ${jwksUri} has ${count} key(s); both fetched anonymously from where doctor runs` };
}

/** NMI's subjects on the pod's node (from the NMI pods' service accounts); empty when unknown. */
export function nmiSubjects(snapshot: DoctorSnapshot): string[] {
  const subjects = snapshot.nmiPods.filter((nmi) => nmi.serviceAccount !== undefined).map((nmi) => serviceAccountSubject(nmi.namespace, nmi.serviceAccount ?? ''));
  return [...new Set(subjects)].sort();
}

/** The credential closest to `expected` and what is wrong with it; `matched` when nothing is. */
function bestCredential(credentials: readonly FederatedCredentialView[], issuer: string | undefined, subjects: readonly string[]): { credential: FederatedCredentialView; expected: Partial<ExpectedCredential>; wrong: ReturnType<typeof credentialMismatches> } | undefined {
  const candidates = (subjects.length === 0 ? [undefined] : subjects).flatMap((subject) =>
    credentials.map((credential) => {
      const expected: Partial<ExpectedCredential> = { issuer, subject, audience: FEDERATED_TOKEN_AUDIENCE };
      return { credential, expected, wrong: credentialMismatches(credential, expected) };
    }),
  );
  return candidates.sort((a, b) => a.wrong.length - b.wrong.length)[0];
}

/** Step `federated-credential`: each federated identity trusts NMI's token. */
export function credentialVerdict(snapshot: DoctorSnapshot, federated: readonly DesiredAssignment[]): StepVerdict {
  const azure = snapshot.azure;
  const issuer = snapshot.federation?.issuer.kind === 'known' ? snapshot.federation.issuer.issuer : undefined;
  const subjects = nmiSubjects(snapshot);
  const subjectText = subjects[0] ?? 'system:serviceaccount:<NMI namespace>:<NMI service account>';
  const howTo = (identity: AzureIdentity): string => {
    const parsed = parseUserAssignedIdentityId(identity.spec.resourceID ?? '');
    return `az identity federated-credential list --identity-name ${parsed?.name ?? '<name>'} -g ${parsed?.resourceGroup ?? '<group>'}  # needs issuer ${issuer ?? '<the cluster\'s issuer>'}, subject ${subjectText}, audience ${FEDERATED_TOKEN_AUDIENCE}`;
  };
  if (azure.kind === 'skipped') return { status: 'skip', detail: azure.reason };
  if (azure.kind !== 'read') return { status: 'unknown', detail: `cannot list federated identity credentials: ${azure.reason}`, fix: federated.map((assignment) => howTo(assignment.identity)).join('\n') };

  const details: string[] = [];
  const fixes: string[] = [];
  let failed = 0;
  let fine = 0;
  let unknown = false;
  if (subjects.length === 0) details.push('NMI\'s subject is not known (no NMI pod with a service account found on the node): only issuer and audience are checked');
  for (const assignment of federated) {
    const identity = assignment.identity;
    const name = identityKey(identity);
    const read = azure.federated?.get(name);
    if (read === undefined || read.kind === 'error') {
      const notFound = read?.statusCode === 404;
      if (notFound) failed++;
      else unknown = true;
      details.push(`AzureIdentity ${name}: ${read === undefined ? 'its credentials were not read' : notFound ? `the user-assigned identity does not exist (${read.message})` : `its credentials could not be listed: ${read.message}`}`);
      fixes.push(
        notFound
          ? `Create it with its credential: pod-identity identity create --federated --name <name> --resource-group <group>, or fix spec.resourceID / spec.clientID of AzureIdentity ${name}.`
          : read?.statusCode === 403
            ? `The credential doctor uses needs read access (e.g. Reader) on the identity; or check by hand: ${howTo(identity)}`
            : `Check by hand: ${howTo(identity)}`,
      );
      continue;
    }
    const parsed = parseUserAssignedIdentityId(read.identityId);
    const where = `identity ${read.identityId}`;
    if (read.clientId !== undefined && identity.spec.clientID !== undefined && read.clientId.toLowerCase() !== identity.spec.clientID.toLowerCase()) {
      failed++;
      details.push(`AzureIdentity ${name} has clientID ${identity.spec.clientID}, but ${where} has client ID ${read.clientId}: NMI asks Entra ID for the wrong application`);
      fixes.push(`Set spec.clientID of AzureIdentity ${name} to ${read.clientId} (or spec.resourceID to the identity whose client ID it is).`);
      continue;
    }
    const best = bestCredential(read.credentials, issuer, subjects);
    if (best === undefined) {
      failed++;
      details.push(`${where} has no federated identity credential: Entra ID refuses NMI's token for it`);
      fixes.push(
        `pod-identity identity create --federated --name ${parsed?.name ?? '<name>'} --resource-group ${parsed?.resourceGroup ?? '<group>'}${issuer === undefined ? '' : ` --issuer ${issuer}`}  # or: az identity federated-credential create --name pod-identity --identity-name ${parsed?.name ?? '<name>'} -g ${parsed?.resourceGroup ?? '<group>'} --issuer ${issuer ?? '<issuer>'} --subject ${subjectText} --audiences ${FEDERATED_TOKEN_AUDIENCE}`,
      );
      continue;
    }
    if (best.wrong.length === 0) {
      const checked = best.expected.subject === undefined ? `issuer ${best.credential.issuer} and audience ${FEDERATED_TOKEN_AUDIENCE} (subject ${best.credential.subject} not checked)` : `issuer ${best.credential.issuer}, subject ${best.credential.subject}, audience ${FEDERATED_TOKEN_AUDIENCE}`;
      if (best.expected.subject === undefined || issuer === undefined) unknown = true;
      else fine++;
      details.push(`${where}: credential "${best.credential.name}" trusts ${checked}${issuer === undefined ? ' (the cluster\'s issuer is not known, so it is not compared)' : ''}`);
      continue;
    }
    failed++;
    details.push(`${where} has no credential that trusts NMI's token; the closest, "${best.credential.name}": ${describeMismatches(best.credential, best.wrong, best.expected).join('; ')}`);
    const others = read.credentials.length - 1;
    if (others > 0) details.push(`  (${others} other credential(s) on it match less)`);
    fixes.push(
      `az identity federated-credential update --name ${best.credential.name} --identity-name ${parsed?.name ?? '<name>'} -g ${parsed?.resourceGroup ?? '<group>'} --issuer ${best.expected.issuer ?? best.credential.issuer} --subject ${best.expected.subject ?? best.credential.subject} --audiences ${FEDERATED_TOKEN_AUDIENCE}` +
        `  # or add one: pod-identity identity create --federated --name ${parsed?.name ?? '<name>'} --resource-group ${parsed?.resourceGroup ?? '<group>'}`,
    );
  }
  // As the other steps: a broken identity next to a working one is a warning.
  const status: StepStatus = failed > 0 ? (fine > 0 ? 'warn' : 'fail') : unknown ? 'unknown' : 'ok';
  return { status, detail: details.join('\n'), fix: fixes.length === 0 ? undefined : fixes.join('\n') };
}
