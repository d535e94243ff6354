/**
 * Federated identities (type 3) in NMI's token path: upstream ids, the route by `spec.type`, sharing
 * and invalidation through the token service, and the IMDS-shaped answers their failures become.
 */
import { describe, expect, it } from 'vitest';
import { IdentityType, type AzureIdentity } from '../../../../src/api/index.ts';
import type { AccessToken } from '../../../../src/azure/access-token.ts';
import { federatedFailure, FederatedTokenFileError } from '../../../../src/azure/federated-token-client.ts';
import { TokenRequestError } from '../../../../src/azure/token-errors.ts';
import { imdsErrorBody, serviceUnavailable, tokenRequestFailed } from '../../../../src/nmi/http/imds-errors.ts';
import { FEDERATED_IDENTITIES, federatedUpstream, type FederatedUpstream } from '../../../../src/nmi/tokens/federated-source.ts';
import { IMDS_IDENTITIES, type ImdsUpstream } from '../../../../src/nmi/tokens/imds-source.ts';
import { SERVICE_PRINCIPAL_IDENTITIES, type ServicePrincipalUpstream } from '../../../../src/nmi/tokens/service-principal-source.ts';
import { CachingTokenSource } from '../../../../src/nmi/tokens/token-cache.ts';
import { TokenService } from '../../../../src/nmi/tokens/token-service.ts';
import type { TokenSource } from '../../../../src/nmi/tokens/token-source.ts';
import { route, UpstreamRouter } from '../../../../src/nmi/tokens/upstream-router.ts';
import { ManualClock } from '../../../support/manual-clock.ts';

const HOUR = 3_600_000;

const federated = (name: string, spec: { clientID?: string; tenantID?: string; adEndpoint?: string; resourceID?: string }): AzureIdentity =>
  ({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name, namespace: 'ns' }, spec: { type: IdentityType.FederatedIdentity, ...spec } });

function service(clock: ManualClock) {
  const calls: string[] = [];
  let issued = 0;
  const make = (resource: string, clientId: string): AccessToken => ({ accessToken: `t${String(++issued)}`, expiresOnMs: clock.now() + HOUR, resource, clientId });
  const fed: TokenSource<FederatedUpstream> = {
    getToken: async ({ upstream, resource }) => {
      calls.push(`fed ${upstream.clientId}@${upstream.tenantId}${upstream.adEndpoint === undefined ? '' : ` via ${upstream.adEndpoint}`} ${resource}`);
      await Promise.resolve();
      return make(resource, upstream.clientId);
    },
  };
  const never = <U extends ImdsUpstream | ServicePrincipalUpstream>(): TokenSource<U> => ({ getToken: () => Promise.reject(new Error('not this source')) });
  const upstreams = new UpstreamRouter([route(IMDS_IDENTITIES, never<ImdsUpstream>()), route(SERVICE_PRINCIPAL_IDENTITIES, never<ServicePrincipalUpstream>()), route(FEDERATED_IDENTITIES, fed)]);
  const tokens = new TokenService({ cache: new CachingTokenSource(upstreams, { clock }), upstreams });
  return { tokens, calls };
}

describe('federated upstreams', () => {
  it('ids are the client ID and tenant, lower-cased, with the authority host only when adEndpoint is set', () => {
    expect(federatedUpstream(federated('a', { clientID: 'ABC-1', tenantID: 'T-1' })).id).toBe('fed:abc-1@t-1');
    expect(federatedUpstream(federated('b', { clientID: 'abc-1', tenantID: 't-1', adEndpoint: '' })).id).toBe('fed:abc-1@t-1');
    expect(federatedUpstream(federated('c', { clientID: 'abc-1', tenantID: 't-1', adEndpoint: 'https://Login.Example.com/' })).id).toBe('fed:abc-1@t-1@https://login.example.com');
    expect(federatedUpstream(federated('c', { clientID: 'abc-1', tenantID: 't-1', adEndpoint: 'https://login.example.com' })).id).toBe('fed:abc-1@t-1@https://login.example.com');
    expect(federatedUpstream(federated('d', { clientID: 'abc-1', tenantID: 't-1' }))).toEqual({ kind: 'federated', id: 'fed:abc-1@t-1', clientId: 'abc-1', tenantId: 't-1', adEndpoint: undefined });
  });

  it('serves type 3 only, with one upstream per identity', () => {
    expect(FEDERATED_IDENTITIES.identityTypes).toEqual([IdentityType.FederatedIdentity]);
    for (const kind of [IMDS_IDENTITIES, SERVICE_PRINCIPAL_IDENTITIES]) expect(kind.identityTypes).not.toContain(IdentityType.FederatedIdentity);
    expect(FEDERATED_IDENTITIES.upstreamsOf(federated('a', { clientID: 'c', tenantID: 't', resourceID: '/subscriptions/s/x' })).map((upstream) => upstream.id)).toEqual(['fed:c@t']);
  });
});

describe('federated identities in the token service', () => {
  it('routes type 3 to the federated source, caches per resource, and shares a token between identities of one Azure identity', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const one = federated('one', { clientID: 'app-1', tenantID: 'tenant' });
    const alias = federated('alias', { clientID: 'APP-1', tenantID: 'TENANT' });
    const [first] = await tokens.forIdentity(one, 'https://management.azure.com/');
    const [again] = await tokens.forIdentity(one, 'https://management.azure.com/');
    const [shared] = await tokens.forIdentity(alias, 'https://management.azure.com/');
    expect(calls).toEqual(['fed app-1@tenant https://management.azure.com/']);
    expect([first?.cacheHit, again?.cacheHit, shared?.cacheHit]).toEqual([false, true, true]);
    expect(shared?.token.accessToken).toBe(first?.token.accessToken);
    await tokens.forIdentity(one, 'https://vault.azure.net');
    const elsewhere = federated('elsewhere', { clientID: 'app-1', tenantID: 'tenant', adEndpoint: 'https://login.example' });
    await tokens.forIdentity(elsewhere, 'https://vault.azure.net');
    expect(calls.slice(1)).toEqual(['fed app-1@tenant https://vault.azure.net', 'fed app-1@tenant via https://login.example https://vault.azure.net']);
  });

  it('drops the tokens when the identity changes, so the next request exchanges again', async () => {
    const clock = new ManualClock(1_000_000);
    const { tokens, calls } = service(clock);
    const identity = federated('one', { clientID: 'app-1', tenantID: 'tenant' });
    await tokens.forIdentity(identity, 'https://r');
    tokens.invalidate({ namespace: 'ns', name: 'one', clientId: 'app-1' });
    await tokens.forIdentity(identity, 'https://r');
    expect(calls).toEqual(['fed app-1@tenant https://r', 'fed app-1@tenant https://r']);
  });
});

describe('federated failures as IMDS answers', () => {
  const context = { endpoint: 'entra', resource: 'https://management.azure.com/', clientId: 'app-1', tenantId: 'tenant' } as const;
  const refused = (code: string, error: string, text: string): TokenRequestError => {
    const mapped = federatedFailure(new TokenRequestError('rejected', context, { upstream: { status: 400, error, aadstsCode: code, description: `${code}: ${text}` } }), '/var/run/secrets/pod-identity/federated/token');
    if (!(mapped instanceof TokenRequestError)) throw new Error(`not a TokenRequestError: ${mapped.message}`);
    return mapped;
  };

  it('each Entra refusal is 403 with Entra’s error, its AADSTS code and text, and the cause in words', () => {
    for (const [code, text, cause] of [
      ['AADSTS70021', 'No matching federated identity record found for presented assertion.', 'matches the issuer, subject and audience'],
      ['AADSTS700213', "No matching federated identity record found for presented assertion subject 'system:serviceaccount:x:y'.", 'names the subject'],
      ['AADSTS700212', "No matching federated identity record found for presented assertion audience 'api://other'.", 'accepts the audience'],
      ['AADSTS700024', 'Client assertion is not within its valid time range.', 'has expired or is not valid yet'],
      ['AADSTS50166', 'Request to External OIDC endpoint failed.', "could not fetch the issuer's OpenID configuration"],
    ] as const) {
      const answer = tokenRequestFailed(refused(code, 'invalid_request', text));
      expect(answer.status, code).toBe(403);
      const body = imdsErrorBody(answer);
      expect(body.error, code).toBe('invalid_request');
      expect(body.error_description, code).toContain(`${code}: ${text}`);
      expect(body.error_description, code).toContain(cause);
    }
  });

  it('an unreadable token file is 503 naming the file', () => {
    const fileError = new FederatedTokenFileError("cannot read NMI's service-account token file /var/run/secrets/pod-identity/federated/token (--federated-token-file; chart: the projected token volume, nmi.federatedToken): it does not exist");
    const mapped = federatedFailure(new TokenRequestError('unavailable', context, { cause: new Error('AuthenticationRequiredError', { cause: fileError }) }), '/x');
    expect(mapped).toBe(fileError);
    // What the token issuer answers for an error that is not a TokenRequestError (http/token-issuer.ts).
    const body = imdsErrorBody(serviceUnavailable(mapped.message));
    expect(body).toEqual({ error: 'service_unavailable', error_description: expect.stringContaining('/var/run/secrets/pod-identity/federated/token') as string });
  });
});
