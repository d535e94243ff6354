import { describe, expect, it } from 'vitest';
import { ManagedIdentityTokenCache, REFRESH_BEFORE_EXPIRY_SECONDS } from '../../../../src/sim/imds/token-cache.ts';
import type { IssuedToken } from '../../../../src/sim/tokens/issuer.ts';

describe('ManagedIdentityTokenCache', () => {
  const parts = { clientId: 'C', principalId: 'P', identityResourceId: '/ID', computeResourceId: '/VM', resource: 'https://management.azure.com/' };

  it('keys on the identity case-insensitively but on the resource exactly', () => {
    expect(ManagedIdentityTokenCache.key(parts)).toBe(ManagedIdentityTokenCache.key({ ...parts, clientId: 'c', identityResourceId: '/id' }));
    expect(ManagedIdentityTokenCache.key(parts)).not.toBe(ManagedIdentityTokenCache.key({ ...parts, resource: 'https://management.azure.com' }));
  });

  it('returns the same token until it nears expiry, and signs once for concurrent misses', async () => {
    const cache = new ManagedIdentityTokenCache();
    let now = 1000;
    let signed = 0;
    const issue = (): Promise<IssuedToken> => {
      signed += 1;
      return Promise.resolve({ token: `t${signed}`, notBefore: now, expiresOn: now + 3600 });
    };
    const [a, b] = await Promise.all([cache.getOrIssue('k', () => now, issue), cache.getOrIssue('k', () => now, issue)]);
    expect([a.token, b.token, signed]).toEqual(['t1', 't1', 1]);
    now += 3600 - REFRESH_BEFORE_EXPIRY_SECONDS - 1;
    expect((await cache.getOrIssue('k', () => now, issue)).token).toBe('t1');
    now += 1;
    expect((await cache.getOrIssue('k', () => now, issue)).token).toBe('t2');
  });

  it('does not cache a failed signing', async () => {
    const cache = new ManagedIdentityTokenCache();
    await expect(cache.getOrIssue('k', () => 0, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect((await cache.getOrIssue('k', () => 0, () => Promise.resolve({ token: 'ok', notBefore: 0, expiresOn: 86_400 }))).token).toBe('ok');
  });
});
