/**
 * The control plane as a service-account token issuer others can trust, as on AKS with the OIDC
 * issuer enabled: its OpenID discovery document and JWKS are readable without credentials, so a
 * verifier (Entra ID, or the simulator standing in for it) can check the tokens it mints.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunResult } from './exec.ts';
import { httpsGet } from './https.ts';

/** Path of the discovery document under the issuer URL. */
export const OPENID_CONFIGURATION_PATH = '/.well-known/openid-configuration';

/** Path of the JWKS the API server serves (kube-apiserver's fixed path). */
export const JWKS_PATH = '/openid/v1/jwks';

/** The built-in ClusterRole that may read the two documents above. */
const DISCOVERY_CLUSTER_ROLE = 'system:service-account-issuer-discovery';

/** Our binding of it to anonymous users; the bootstrap one binds it only to service accounts. */
export const ANONYMOUS_DISCOVERY_BINDING = 'pod-identity-devenv:anonymous-issuer-discovery';

/** `--service-account-jwks-uri` for an issuer, as the discovery document will name it. */
export function jwksUriOf(issuerUrl: string): string {
  return `${issuerUrl}${JWKS_PATH}`;
}

/** The ClusterRoleBinding that opens issuer discovery to `system:unauthenticated`. */
export function anonymousDiscoveryBinding(): object {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: ANONYMOUS_DISCOVERY_BINDING },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: DISCOVERY_CLUSTER_ROLE },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }],
  };
}

export interface AnonymousDiscoveryOptions {
  readonly issuerUrl: string;
  /** The plane's CA, to reach the issuer over TLS without a client certificate. */
  readonly caPem: string;
  readonly kubectl: (args: string[], options?: { input?: string }) => Promise<RunResult>;
  readonly timeoutMs?: number;
}

/**
 * Creates the binding (idempotent) and waits until an anonymous GET of the discovery document
 * answers 200: RBAC reads bindings from an informer, so the first requests may still be refused.
 */
export async function allowAnonymousIssuerDiscovery(options: AnonymousDiscoveryOptions): Promise<void> {
  const applied = await options.kubectl(['apply', '-f', '-'], { input: JSON.stringify(anonymousDiscoveryBinding()) });
  if (applied.code !== 0) throw new Error(`creating ClusterRoleBinding ${ANONYMOUS_DISCOVERY_BINDING} failed: ${applied.stderr}`);
  const url = `${options.issuerUrl}${OPENID_CONFIGURATION_PATH}`;
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const response = await httpsGet(url, { caPem: options.caPem });
    if (response.status === 200) return;
    if (Date.now() > deadline) throw new Error(`anonymous GET ${url} still answers ${response.status}: ${response.body}`);
    await sleep(50);
  }
}
