/**
 * The metadata documents MSAL reads before a token request (azure-protocols.md §5.4): the OpenID
 * configuration (v2 and v1 flavours) and the instance-discovery answer. Pure builders.
 *
 * MSAL accepts the v2 document only when it has `authorization_endpoint`, `token_endpoint`, `issuer` and
 * `jwks_uri`, and only when `issuer` is https on the authority's own host:port — so every URL here is
 * built from the base URL the client called.
 * @module
 */
import { v1Issuer } from '../tokens/claims.ts';

/** Fields of an OpenID Provider configuration MSAL and token validators read, plus Entra's extras. */
export interface OpenIdConfiguration {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  token_endpoint_auth_methods_supported: string[];
  response_types_supported: string[];
  response_modes_supported: string[];
  subject_types_supported: string[];
  id_token_signing_alg_values_supported: string[];
  scopes_supported: string[];
  claims_supported: string[];
  request_uri_parameter_supported: boolean;
  end_session_endpoint: string;
  device_authorization_endpoint?: string;
  tenant_region_scope: string;
  cloud_instance_name: string;
  cloud_graph_host_name: string;
  msgraph_host: string;
}

const CLAIMS_SUPPORTED = ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'tid', 'ver', 'oid', 'appid', 'xms_mirid'];

type EndpointFields = 'issuer' | 'authorization_endpoint' | 'token_endpoint' | 'jwks_uri' | 'end_session_endpoint';

function commonFields(): Omit<OpenIdConfiguration, EndpointFields> {
  return {
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    claims_supported: CLAIMS_SUPPORTED,
    request_uri_parameter_supported: false,
    tenant_region_scope: 'WW',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
  };
}

/** `GET /{tenant}/v2.0/.well-known/openid-configuration`. `baseUrl` has no trailing slash. */
export function openIdConfigurationV2(baseUrl: string, tenantId: string): OpenIdConfiguration {
  const tenantBase = `${baseUrl}/${tenantId}`;
  return {
    ...commonFields(),
    issuer: `${tenantBase}/v2.0`,
    authorization_endpoint: `${tenantBase}/oauth2/v2.0/authorize`,
    token_endpoint: `${tenantBase}/oauth2/v2.0/token`,
    device_authorization_endpoint: `${tenantBase}/oauth2/v2.0/devicecode`,
    end_session_endpoint: `${tenantBase}/oauth2/v2.0/logout`,
    jwks_uri: `${tenantBase}/discovery/v2.0/keys`,
  };
}

/**
 * `GET /{tenant}/.well-known/openid-configuration`: the v1 document. Its `issuer` is the v1 token
 * issuer `https://sts.windows.net/{tid}/`, as on the real service — the `iss` of the tokens issued here.
 */
export function openIdConfigurationV1(baseUrl: string, tenantId: string): OpenIdConfiguration {
  const tenantBase = `${baseUrl}/${tenantId}`;
  return {
    ...commonFields(),
    issuer: v1Issuer(tenantId),
    authorization_endpoint: `${tenantBase}/oauth2/authorize`,
    token_endpoint: `${tenantBase}/oauth2/token`,
    end_session_endpoint: `${tenantBase}/oauth2/logout`,
    jwks_uri: `${tenantBase}/discovery/keys`,
  };
}

/** The answer of `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`. */
export interface InstanceDiscovery {
  tenant_discovery_endpoint: string;
  'api-version': string;
  metadata: { preferred_network: string; preferred_cache: string; aliases: string[] }[];
}

/**
 * Instance discovery for this host. `authorizationEndpoint` is the query parameter MSAL sends
 * (`https://{host}/{tenant}/oauth2/v2.0/authorize`); its tenant segment is reused, else `common`.
 */
export function instanceDiscovery(baseUrl: string, authorizationEndpoint: string | undefined): InstanceDiscovery {
  const host = new URL(baseUrl).host;
  let tenant = 'common';
  if (authorizationEndpoint !== undefined) {
    try {
      const [first] = new URL(authorizationEndpoint).pathname.split('/').filter((segment) => segment !== '');
      if (first !== undefined) tenant = first;
    } catch {
      // not a URL: keep `common`
    }
  }
  return {
    tenant_discovery_endpoint: `${baseUrl}/${tenant}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
}
