/**
 * The cluster's service-account issuer as Entra ID sees it, as pure functions: whether a URL can be
 * a federated credential's issuer at all (https, nothing Entra ID could not fetch from outside the
 * cluster), where its OpenID discovery document lives, and which issuer `identity create` uses.
 * @module
 */
import { UsageError } from '../command.ts';
import type { ClusterIssuerRead } from './cluster-issuer.ts';

/** How to get an issuer Entra ID can use, for messages. */
export const ISSUER_FIX =
  'AKS: az aks update -g <group> -n <cluster> --enable-oidc-issuer, then az aks show -g <group> -n <cluster> --query oidcIssuerProfile.issuerUrl; ' +
  'self-managed: run kube-apiserver with --service-account-issuer=https://<public host> and publish its discovery document and JWKS there';

export const ENABLE_ISSUER_FIX = `enable the cluster's OIDC issuer (${ISSUER_FIX})`;

/** Problem with `text` as an issuer given on the command line, or undefined when it is acceptable. */
export function checkIssuerUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'an https URL (the issuer of the cluster\'s service-account tokens)';
  }
  if (url.protocol !== 'https:') return 'an https URL: Entra ID accepts only https issuers';
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return 'an https URL without user, query or fragment';
  return undefined;
}

/** Hosts only resolvable inside a cluster: kube-apiserver's default issuer is one of them. */
export function isClusterInternalHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return host === 'kubernetes' || host.startsWith('kubernetes.default') || host.endsWith('.svc') || host.endsWith('.cluster.local');
}

/**
 * Why an issuer the API server reports cannot serve Entra ID (not https, or cluster-internal), or
 * undefined when it may.
 */
export function unusableIssuer(issuer: string): string | undefined {
  const malformed = checkIssuerUrl(issuer);
  if (malformed !== undefined) return `the cluster's service-account issuer ${JSON.stringify(issuer)} is not ${malformed}`;
  if (isClusterInternalHost(new URL(issuer).hostname)) {
    return `the cluster's service-account issuer ${issuer} is the API server's in-cluster default: Entra ID cannot fetch its keys from outside the cluster`;
  }
  return undefined;
}

/** The OpenID discovery document of an issuer (OIDC Discovery 1.0 §4: a trailing `/` is dropped first). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/**
 * The issuer `identity create --federated` trusts: `--issuer` as given (already checked), else the
 * one the API server reports, which must be usable; otherwise a usage error naming the fix.
 */
export function chooseIssuer(flag: string | undefined, read: ClusterIssuerRead | undefined): { readonly issuer: string; readonly source: string } {
  if (flag !== undefined) return { issuer: flag, source: '--issuer' };
  if (read === undefined || read.kind === 'error') {
    throw new UsageError(`cannot learn the cluster's service-account issuer${read === undefined ? '' : ` (${read.message})`}: give --issuer URL, or ${ENABLE_ISSUER_FIX}`);
  }
  const problem = unusableIssuer(read.issuer);
  if (problem !== undefined) throw new UsageError(`${problem}: ${ENABLE_ISSUER_FIX}; or give --issuer URL`);
  return { issuer: read.issuer, source: "the API server's discovery document" };
}
