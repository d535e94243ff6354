import type { JSONWebKeySet } from 'jose';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KEY_CACHE_POLICY, decideKeyFetch, OidcKeyCache, type CachedKeys } from '../../../../src/sim/entra/oidc-key-cache.ts';
import { ManualClock } from '../../../support/manual-clock.ts';

const ISSUER = 'https://127.0.0.1:6443';
const keySet = (...kids: string[]): JSONWebKeySet => ({ keys: kids.map((kid) => ({ kty: 'RSA', kid, n: 'AQAB', e: 'AQAB' })) });
const POLICY = DEFAULT_KEY_CACHE_POLICY;

describe('decideKeyFetch', () => {
  const entry = (fetchedAt: number, lastKidMissRefetchAt?: number): CachedKeys => ({ jwks: keySet('k1'), fetchedAt, lastKidMissRefetchAt });

  it('fetches what it does not hold or holds too long', () => {
    expect(decideKeyFetch(undefined, 'k1', 0, POLICY)).toBe('fetch');
    expect(decideKeyFetch(entry(0), 'k1', POLICY.maxAgeMs, POLICY)).toBe('fetch');
  });

  it('uses fresh keys that have the kid, or any kid when the assertion names none', () => {
    expect(decideKeyFetch(entry(0), 'k1', 1_000, POLICY)).toBe('use');
    expect(decideKeyFetch(entry(0), undefined, 1_000, POLICY)).toBe('use');
  });

  it('refetches for an unknown kid at most once per interval', () => {
    expect(decideKeyFetch(entry(0), 'k2', 1_000, POLICY)).toBe('refetch-for-kid');
    expect(decideKeyFetch(entry(0, 1_000), 'k2', 1_000 + POLICY.kidMissRefetchIntervalMs - 1, POLICY)).toBe('use');
    expect(decideKeyFetch(entry(0, 1_000), 'k3', 1_000 + POLICY.kidMissRefetchIntervalMs, POLICY)).toBe('refetch-for-kid');
  });
});

describe('OidcKeyCache', () => {
  function cacheWith(sets: JSONWebKeySet[]) {
    const clock = new ManualClock(0);
    const fetched: string[] = [];
    const cache = new OidcKeyCache({
      clock,
      fetchKeys: (issuer) => {
        fetched.push(issuer);
        const next = sets[Math.min(fetched.length - 1, sets.length - 1)];
        return next === undefined ? Promise.reject(new Error('unreachable')) : Promise.resolve(next);
      },
    });
    return { clock, fetched, cache };
  }

  it('fetches once per issuer and serves known kids from the cache', async () => {
    const { fetched, cache } = cacheWith([keySet('k1')]);
    await cache.keysFor(ISSUER, 'k1');
    await cache.keysFor(ISSUER, 'k1');
    await cache.keysFor('https://other.example', 'k1');
    expect(fetched).toEqual([ISSUER, 'https://other.example']);
  });

  it('refetches when a kid is missing (rotated keys), and a flood of unknown kids costs one fetch per interval', async () => {
    const { clock, fetched, cache } = cacheWith([keySet('k1'), keySet('k1', 'k2')]);
    await cache.keysFor(ISSUER, 'k1');
    expect((await cache.keysFor(ISSUER, 'k2')).keys.map((key) => key.kid)).toEqual(['k1', 'k2']);
    expect(fetched).toHaveLength(2);
    // That refetch was for a missing kid: made-up kids within the interval are answered from the cache.
    for (let index = 0; index < 50; index++) await cache.keysFor(ISSUER, `bogus-${index}`);
    expect(fetched).toHaveLength(2);
    await clock.advance(POLICY.kidMissRefetchIntervalMs);
    await cache.keysFor(ISSUER, 'bogus-again');
    await cache.keysFor(ISSUER, 'bogus-once-more');
    expect(fetched).toHaveLength(3);
  });

  it('shares one fetch among concurrent callers and refetches after the maximum age', async () => {
    const { clock, fetched, cache } = cacheWith([keySet('k1')]);
    await Promise.all([cache.keysFor(ISSUER, 'k1'), cache.keysFor(ISSUER, 'k1'), cache.keysFor(ISSUER, undefined)]);
    expect(fetched).toHaveLength(1);
    await clock.advance(POLICY.maxAgeMs);
    await cache.keysFor(ISSUER, 'k1');
    expect(fetched).toHaveLength(2);
  });

  it('does not cache failures', async () => {
    const { fetched, cache } = cacheWith([]);
    await expect(cache.keysFor(ISSUER, 'k1')).rejects.toThrow('unreachable');
    await expect(cache.keysFor(ISSUER, 'k1')).rejects.toThrow('unreachable');
    expect(fetched).toHaveLength(2);
  });
});
