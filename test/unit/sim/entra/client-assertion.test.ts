import { createPrivateKey, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { certificateThumbprints, createSelfSignedCertificate } from '../../../../src/lib/pki.ts';
import { AadstsError } from '../../../../src/sim/entra/aadsts.ts';
import { isTokenEndpointAudience, verifyClientAssertion } from '../../../../src/sim/entra/client-assertion.ts';

const APP = '33333333-3333-4333-8333-333333333333';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const HOST = '127.0.0.1:8443';
const AUD = `https://${HOST}/${TENANT}/oauth2/v2.0/token`;
const NOW = 1_800_000_000;

const registered = createSelfSignedCertificate('registered');
const other = createSelfSignedCertificate('other');

interface AssertionOptions {
  alg?: 'PS256' | 'RS256';
  thumbprintOf?: string;
  keyPem?: string;
  claims?: Record<string, unknown>;
  header?: 'x5t' | 'x5t#S256' | 'none';
}

/** An assertion as MSAL-node builds it (PS256 + x5t#S256), or as older clients do (RS256 + x5t). */
async function assertion(options: AssertionOptions = {}): Promise<string> {
  const alg = options.alg ?? 'PS256';
  const thumbprints = certificateThumbprints(options.thumbprintOf ?? registered.certPem);
  const headerKind = options.header ?? (alg === 'PS256' ? 'x5t#S256' : 'x5t');
  const header = headerKind === 'none' ? {} : headerKind === 'x5t' ? { x5t: thumbprints.sha1 } : { 'x5t#S256': thumbprints.sha256 };
  return new SignJWT({ aud: AUD, iss: APP, sub: APP, jti: randomUUID(), nbf: NOW, exp: NOW + 600, ...options.claims })
    .setProtectedHeader({ alg, typ: 'JWT', ...header })
    .sign(createPrivateKey(options.keyPem ?? registered.keyPem));
}

async function check(token: string, nowSeconds = NOW + 5): Promise<AadstsError | undefined> {
  try {
    await verifyClientAssertion({
      assertion: token,
      clientId: APP,
      certificatesPem: [other.certPem, registered.certPem],
      isAcceptedAudience: (audience) => isTokenEndpointAudience(audience, [HOST], [TENANT]),
      nowSeconds,
    });
    return undefined;
  } catch (error) {
    if (error instanceof AadstsError) return error;
    throw error;
  }
}

describe('verifyClientAssertion', () => {
  it('accepts PS256 with x5t#S256 (MSAL-node 5+) and RS256 with x5t (older MSAL)', async () => {
    expect(await check(await assertion())).toBeUndefined();
    expect(await check(await assertion({ alg: 'RS256' }))).toBeUndefined();
  });

  it('accepts the v1 token endpoint as audience, and small clock skew', async () => {
    expect(await check(await assertion({ claims: { aud: `https://${HOST}/${TENANT}/oauth2/token/` } }))).toBeUndefined();
    expect(await check(await assertion(), NOW - 60)).toBeUndefined();
  });

  it.each<[string, () => Promise<string>, number, string]>([
    ['not a JWT', () => Promise.resolve('not-a-jwt'), 50027, 'invalid or malformed'],
    ['a certificate not registered on the app', () => assertion({ thumbprintOf: createSelfSignedCertificate('stranger').certPem }), 700027, 'The key was not found'],
    ['no thumbprint header', () => assertion({ header: 'none' }), 700027, 'The key was not found'],
    ['signed by another key than the named certificate', () => assertion({ keyPem: other.keyPem }), 700027, 'invalid signature'],
    ['iss/sub of another app', () => assertion({ claims: { iss: 'someone', sub: 'someone' } }), 700021, "doesn't match 'client_id'"],
    ['an audience on another host', () => assertion({ claims: { aud: `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token` } }), 700023, 'does not match Realm issuer'],
    ['an audience for another tenant', () => assertion({ claims: { aud: `https://${HOST}/common/oauth2/v2.0/token` } }), 700023, 'Realm issuer'],
    ['expired', () => assertion({ claims: { nbf: NOW - 4000, exp: NOW - 3400 } }), 700024, 'not within its valid time range'],
    ['not yet valid', () => assertion({ claims: { nbf: NOW + 3600, exp: NOW + 4200 } }), 700024, 'not within its valid time range'],
    ['without exp', () => assertion({ claims: { exp: undefined } }), 700024, 'not within its valid time range'],
  ])('refuses %s with AADSTS%i', async (_name, build, code, text) => {
    const error = await check(await build());
    expect(error?.aadsts).toBe(code);
    expect(error?.message).toContain(text);
  });
});

describe('isTokenEndpointAudience', () => {
  it.each([
    [`https://${HOST}/${TENANT}/oauth2/v2.0/token`, true],
    [`https://${HOST}/${TENANT.toUpperCase()}/OAuth2/Token`, true],
    [`https://${HOST}/${TENANT}/oauth2/v2.0/token/?x=1`, true],
    [`http://${HOST}/${TENANT}/oauth2/v2.0/token`, false],
    [`https://${HOST}/${TENANT}/oauth2/v2.0/authorize`, false],
    [`https://${HOST}/${TENANT}`, false],
    ['not a url', false],
  ])('%s → %s', (audience, expected) => {
    expect(isTokenEndpointAudience(audience, [HOST], [TENANT])).toBe(expected);
  });
});
