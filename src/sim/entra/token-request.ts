/**
 * Parses a client-credentials token request (form fields) into a typed request, or throws the
 * {@link AadstsError} Entra ID would return. Pure: no store, no clock.
 * @module
 */
import { audienceFromScope } from '../tokens/claims.ts';
import { aadsts } from './aadsts.ts';

/** Which token endpoint was called: v1 takes `resource`, v2 takes `scope`. */
export type TokenEndpointVersion = 'v1' | 'v2';

/** The JWT-bearer assertion type, the only `client_assertion_type` Entra ID accepts. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** How the client authenticates. Never log `secret` or `assertion`. */
export type ClientCredential = { readonly kind: 'secret'; readonly secret: string } | { readonly kind: 'assertion'; readonly assertion: string };

export interface ClientCredentialsRequest {
  readonly clientId: string;
  /** The token's `aud`: v1 `resource` as sent; v2 the scope without `/.default`. */
  readonly audience: string;
  /** The resource as the client named it (v1 responses echo it). */
  readonly resource: string;
  readonly credential: ClientCredential;
}

function required(form: URLSearchParams, name: string): string {
  const value = form.get(name);
  if (value === null || value === '') throw aadsts.missingParameter(name);
  return value;
}

/** Reads `grant_type`, `client_id`, `scope`/`resource` and the credential from the form. */
export function parseClientCredentialsRequest(form: URLSearchParams, version: TokenEndpointVersion): ClientCredentialsRequest {
  const grantType = required(form, 'grant_type');
  if (grantType !== 'client_credentials') throw aadsts.unsupportedGrantType(grantType);
  const clientId = required(form, 'client_id');

  let audience: string;
  let resource: string;
  if (version === 'v2') {
    const scope = required(form, 'scope');
    const fromScope = audienceFromScope(scope);
    if (fromScope === undefined) throw aadsts.invalidClientCredentialsScope(scope);
    audience = fromScope;
    resource = fromScope;
  } else {
    resource = required(form, 'resource');
    audience = resource;
  }

  return { clientId, audience, resource, credential: readCredential(form) };
}

function readCredential(form: URLSearchParams): ClientCredential {
  const secret = form.get('client_secret');
  const assertionType = form.get('client_assertion_type');
  const assertion = form.get('client_assertion');
  if (assertionType !== null && assertionType !== '') {
    if (assertionType !== JWT_BEARER_ASSERTION_TYPE) throw aadsts.unsupportedAssertionType(assertionType);
    if (assertion === null || assertion === '') throw aadsts.missingParameter('client_assertion');
    return { kind: 'assertion', assertion };
  }
  if (secret !== null && secret !== '') return { kind: 'secret', secret };
  throw aadsts.missingClientCredential();
}

/**
 * Form fields of a token request. Entra reads only form bodies: any other content type carries no
 * parameters. `body` is what the form parser produced (URLSearchParams here, or a plain object from
 * another form parser).
 */
export function formFields(contentType: string | undefined, body: unknown): URLSearchParams {
  const form = new URLSearchParams();
  if (contentType?.split(';')[0]?.trim().toLowerCase() !== 'application/x-www-form-urlencoded') return form;
  if (body instanceof URLSearchParams) return body;
  if (typeof body === 'object' && body !== null) {
    for (const [name, value] of Object.entries(body)) {
      if (typeof value === 'string') form.append(name, value);
    }
  }
  return form;
}
