/**
 * The cluster's service-account issuer, from the API server's own discovery document
 * (`GET /.well-known/openid-configuration` with the kubeconfig's credentials; the issuer there is
 * kube-apiserver's first `--service-account-issuer`, the `iss` of every token it signs).
 * @module
 */
import type { KubeTarget } from '../../kube/access.ts';
import { rawRequest } from '../../kube/raw-client.ts';
import { describeError } from '../../lib/errors.ts';

export type ClusterIssuerRead =
  | { readonly kind: 'ok'; readonly issuer: string }
  | { readonly kind: 'error'; readonly message: string };

export const CLUSTER_DISCOVERY_PATH = '/.well-known/openid-configuration';

export async function readClusterIssuer(kube: KubeTarget, signal?: AbortSignal): Promise<ClusterIssuerRead> {
  let document: unknown;
  try {
    document = await rawRequest(kube, { method: 'GET', path: CLUSTER_DISCOVERY_PATH, ...(signal === undefined ? {} : { signal }) });
  } catch (error) {
    return { kind: 'error', message: `GET ${CLUSTER_DISCOVERY_PATH} from the API server failed: ${describeError(error).split('\n')[0] ?? ''}` };
  }
  const issuer = (document as { issuer?: unknown } | undefined)?.issuer;
  if (typeof issuer !== 'string' || issuer === '') return { kind: 'error', message: `the API server's ${CLUSTER_DISCOVERY_PATH} names no issuer` };
  return { kind: 'ok', issuer };
}
