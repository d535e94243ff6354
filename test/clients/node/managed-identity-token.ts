/**
 * Client scenario: @azure/identity's ManagedIdentityCredential (or DefaultAzureCredential) against a
 * simulated IMDS, reached through AZURE_POD_IDENTITY_AUTHORITY_HOST (set by the test). Prints one
 * result line (./report.ts).
 */
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { reportToken, scenarioArgument } from './report.ts';

interface ManagedIdentityScenario {
  /** `default`: DefaultAzureCredential, which reads AZURE_CLIENT_ID from the environment. */
  readonly credential: 'managed-identity' | 'default';
  /** At most one selector; none = IMDS's default identity. */
  readonly identity?: { readonly clientId: string } | { readonly resourceId: string } | { readonly objectId: string };
  readonly scope: string;
}

const scenario = scenarioArgument() as ManagedIdentityScenario;

await reportToken(() => {
  if (scenario.credential === 'default') return new DefaultAzureCredential();
  const identity = scenario.identity;
  if (identity === undefined) return new ManagedIdentityCredential();
  if ('clientId' in identity) return new ManagedIdentityCredential({ clientId: identity.clientId });
  if ('resourceId' in identity) return new ManagedIdentityCredential({ resourceId: identity.resourceId });
  return new ManagedIdentityCredential({ objectId: identity.objectId });
}, scenario.scope);
