/**
 * The ARM side of `identity create --federated`: lists the identity's federated identity credentials
 * and creates or updates the one NMI's token needs (@azure/arm-msi), as credential.ts plans it.
 * @module
 */
import type { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { describedCall } from '../azure/arm-error.ts';
import {
  defaultCredentialName,
  describeMismatches,
  planCredential,
  type CredentialStep,
  type ExpectedCredential,
  type FederatedCredentialView,
} from '../federation/credential.ts';
import type { Progress } from '../shared/progress.ts';

const IDENTITY_WRITERS = ['Managed Identity Contributor', 'Contributor'];

export interface CredentialTarget {
  readonly msi: ManagedServiceIdentityClient;
  readonly resourceGroup: string;
  readonly identityName: string;
  /** The identity's resource ID (where the role is needed). */
  readonly identityId: string;
  /** `--federated-credential-name`, if given. */
  readonly credentialName: string | undefined;
}

const trustText = (expected: ExpectedCredential): string => `issuer ${expected.issuer}, subject ${expected.subject}, audience ${expected.audience}`;

/** Makes the identity trust `expected`; returns what was done. */
export async function ensureFederatedCredential(target: CredentialTarget, expected: ExpectedCredential, progress: Progress): Promise<CredentialStep['action']> {
  const { msi, resourceGroup, identityName, identityId } = target;
  progress.start(`looking up the federated identity credentials of identity ${identityName}`);
  const existing = await describedCall({ action: `list the federated identity credentials of ${identityId}`, neededRoles: ['Reader', ...IDENTITY_WRITERS], scope: identityId }, async () => {
    const found: FederatedCredentialView[] = [];
    for await (const entry of msi.federatedIdentityCredentials.list(resourceGroup, identityName)) {
      found.push({ name: entry.name ?? '', issuer: entry.issuer ?? '', subject: entry.subject ?? '', audiences: entry.audiences ?? [] });
    }
    return found;
  });
  const step = planCredential(existing, expected, target.credentialName ?? defaultCredentialName(expected.issuer, expected.subject), identityName);
  if (step.action === 'reuse') {
    progress.done(`federated credential "${step.credential.name}" exists (${trustText(expected)})`);
    return step.action;
  }
  if (step.action === 'update') {
    progress.update(`updating "${step.name}": ${describeMismatches(step.previous, step.wrong, expected).join('; ')}`);
  } else {
    progress.update(`creating "${step.name}"`);
  }
  await describedCall({ action: `${step.action} federated identity credential ${step.name} of ${identityId}`, neededRoles: IDENTITY_WRITERS, scope: identityId }, () =>
    msi.federatedIdentityCredentials.createOrUpdate(resourceGroup, identityName, step.name, { issuer: expected.issuer, subject: expected.subject, audiences: [expected.audience] }),
  );
  progress.done(`federated credential "${step.name}" ${step.action === 'create' ? 'created' : 'updated (it had other content)'}: ${trustText(expected)}`);
  return step.action;
}
