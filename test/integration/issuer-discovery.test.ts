import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { describe, expect, it } from 'vitest';
import { FEDERATED_TOKEN_AUDIENCE } from '../../src/api/index.ts';
import { httpsGet } from '../../src/devenv/https.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { controlPlane, kubeConfig, uniqueNamespace } from '../harness/context.ts';

// The test API server is a service-account token issuer others can verify, as AKS with the OIDC issuer
// enabled: discovery and keys are readable without credentials, and they verify TokenRequest tokens.

/** An anonymous GET (the plane's CA, no client certificate), parsed as JSON. */
async function anonymousJson(url: string): Promise<{ status: number; json: unknown }> {
  const response = await httpsGet(url, { caPem: controlPlane().caPem });
  return { status: response.status, json: response.status === 200 ? JSON.parse(response.body) : response.body };
}

describe('service-account issuer discovery', () => {
  it('serves its OpenID configuration to anonymous clients, naming the issuer and the JWKS', async () => {
    const { issuerUrl, server } = controlPlane();
    expect(issuerUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(issuerUrl).toBe(server);
    const discovery = await anonymousJson(`${issuerUrl}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    expect(discovery.json).toMatchObject({ issuer: issuerUrl, jwks_uri: `${issuerUrl}/openid/v1/jwks` });
  });

  it('keeps the rest of the API closed to anonymous clients', async () => {
    const response = await httpsGet(`${controlPlane().server}/api/v1/namespaces`, { caPem: controlPlane().caPem });
    expect(response.status).toBe(403);
  });

  it('its JWKS verifies a TokenRequest token for the federated audience: iss, sub and aud', async () => {
    const { issuerUrl } = controlPlane();
    const namespace = await uniqueNamespace('issuer');
    const serviceAccount = 'nmi';
    const kc = kubeConfig();
    await rawRequest(kc, { method: 'POST', path: `/api/v1/namespaces/${namespace}/serviceaccounts`, body: { metadata: { name: serviceAccount } } });
    const request = (await rawRequest(kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [FEDERATED_TOKEN_AUDIENCE], expirationSeconds: 3600 } },
    })) as { status?: { token?: string } };
    const token = request.status?.token ?? '';
    expect(token).not.toBe('');

    const discovery = await anonymousJson(`${issuerUrl}/.well-known/openid-configuration`);
    const jwksUri = (discovery.json as { jwks_uri: string }).jwks_uri;
    const keys = await anonymousJson(jwksUri);
    expect(keys.status).toBe(200);
    const jwks = keys.json as JSONWebKeySet;
    expect(jwks.keys.map((key) => key.kid)).toContain(decodeProtectedHeader(token).kid);

    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: issuerUrl, audience: FEDERATED_TOKEN_AUDIENCE });
    expect(payload.iss).toBe(issuerUrl);
    expect(payload.sub).toBe(`system:serviceaccount:${namespace}:${serviceAccount}`);
    expect(payload.aud).toContain(FEDERATED_TOKEN_AUDIENCE);
  });
});
