/**
 * Client scenario: @azure/identity's ClientSecretCredential or ClientCertificateCredential against
 * the simulated Entra ID (`authorityHost`, instance discovery off; the CA comes from
 * NODE_EXTRA_CA_CERTS). Prints one result line (./report.ts).
 */
import { ClientCertificateCredential, ClientSecretCredential } from '@azure/identity';
import { reportToken, scenarioArgument } from './report.ts';

interface EntraScenario {
  readonly credential: 'client-secret' | 'client-certificate';
  readonly authorityHost: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  /** PEM file holding the certificate and its private key. */
  readonly certificatePath?: string;
  readonly scope: string;
}

const scenario = scenarioArgument() as EntraScenario;
const options = { authorityHost: scenario.authorityHost, disableInstanceDiscovery: true };

await reportToken(() => {
  if (scenario.credential === 'client-secret') return new ClientSecretCredential(scenario.tenantId, scenario.clientId, scenario.clientSecret ?? '', options);
  return new ClientCertificateCredential(scenario.tenantId, scenario.clientId, { certificatePath: scenario.certificatePath ?? '' }, options);
}, scenario.scope);
