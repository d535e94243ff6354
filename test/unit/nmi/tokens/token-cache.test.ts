import { describe, expect, it } from 'vitest';
import { flushMicrotasks, ManualClock } from '../../../support/manual-clock.ts';
import { RetryAfterError, TerminalError } from '../../../../src/lib/errors.ts';
import { describeAccessToken, type AccessToken } from '../../../../src/azure/access-token.ts';
import { CachingTokenSource, type CachingTokenSourceOptions } from '../../../../src/nmi/tokens/token-cache.ts';
import type { TokenKey, TokenSource } from '../../../../src/nmi/tokens/token-source.ts';

const MIN = 60_000;

interface Pending {
  readonly key: TokenKey;
  readonly resolve: (token: AccessToken) => void;
  readonly reject: (error: Error) => void;
}

/** An upstream whose calls stay pending until the test settles them. */
class FakeSource implements TokenSource {
  readonly pending: Pending[] = [];
  calls = 0;

  getToken(key: TokenKey): Promise<AccessToken> {
    this.calls++;
    return new Promise<AccessToken>((resolve, reject) => {
      this.pending.push({ key, resolve, reject });
    });
  }

  /** Settles the oldest pending call with a token living `lifetimeMs` from now. */
  async resolveNext(clock: ManualClock, lifetimeMs = 60 * MIN, value = `t${String(this.calls)}`): Promise<AccessToken> {
    const next = this.pending.shift();
    if (next === undefined) throw new Error('no pending upstream call');
    const token: AccessToken = { accessToken: value, expiresOnMs: clock.now() + lifetimeMs, notBeforeMs: clock.now(), resource: next.key.resource };
    next.resolve(token);
    await flushMicrotasks();
    return token;
  }

  async rejectNext(error: Error): Promise<void> {
    const next = this.pending.shift();
    if (next === undefined) throw new Error('no pending upstream call');
    next.reject(error);
    await flushMicrotasks();
  }
}

/** A key for upstream id `id` (the kind does not matter to the cache). */
const key = (id: string, resource: string): TokenKey => ({ upstream: { kind: 'test', id }, resource });
const keyA = key('msi:aaaa', 'https://management.azure.com/');
const keyB = key('msi:bbbb', 'https://management.azure.com/');

function setup(overrides: Omit<CachingTokenSourceOptions, 'clock'> = {}): { clock: ManualClock; inner: FakeSource; cache: CachingTokenSource } {
  const clock = new ManualClock();
  const inner = new FakeSource();
  const cache = new CachingTokenSource(inner, { random: () => 0.5, ...overrides, clock });
  return { clock, inner, cache };
}

/** Gets a token into the cache for `key`. */
async function prime(setupResult: ReturnType<typeof setup>, key: TokenKey, lifetimeMs = 60 * MIN): Promise<AccessToken> {
  const pending = setupResult.cache.getToken(key);
  await flushMicrotasks();
  await setupResult.inner.resolveNext(setupResult.clock, lifetimeMs);
  return pending;
}

describe('CachingTokenSource', () => {
  it('makes one upstream call for 50 concurrent misses (single-flight) and then serves hits', async () => {
    const { clock, inner, cache } = setup();
    const requests = Array.from({ length: 50 }, () => cache.getToken(keyA));
    await flushMicrotasks();
    expect(inner.calls).toBe(1);
    const token = await inner.resolveNext(clock);
    const results = await Promise.all(requests);
    expect(results.every((result) => result === token)).toBe(true);
    expect(await cache.getToken(keyA)).toBe(token);
    expect(inner.calls).toBe(1);
    expect(cache.stats()).toMatchObject({ misses: 50, coalesced: 49, upstreamCalls: 1, hits: 1, size: 1, inFlight: 0 });
  });

  it('keys by upstream id and by resource exactly as requested', async () => {
    const s = setup();
    await prime(s, keyA);
    await prime(s, { ...keyA, resource: 'https://management.azure.com' });
    await prime(s, keyB);
    expect(s.inner.calls).toBe(3);
    expect(s.cache.stats().size).toBe(3);
  });

  it('serves from cache until the refresh point, then refreshes once in the background while serving the old token', async () => {
    const s = setup();
    const { clock, inner, cache } = s;
    // 60 min lifetime: refresh when less than max(5 min, 6 min) = 6 min remains, i.e. at 54 min.
    const old = await prime(s, keyA);
    await clock.advance(53 * MIN);
    expect(await cache.getToken(keyA)).toBe(old);
    expect(inner.calls).toBe(1);

    await clock.advance(2 * MIN);
    const during = await Promise.all(Array.from({ length: 10 }, () => cache.getToken(keyA)));
    expect(during.every((token) => token === old)).toBe(true);
    expect(inner.calls).toBe(2);
    expect(cache.stats().refreshes).toBe(1);

    const fresh = await inner.resolveNext(clock);
    expect(await cache.getToken(keyA)).toBe(fresh);
    expect(inner.calls).toBe(2);
  });

  it('spaces background refreshes with the refresh rate; a deferred refresh starts on a later hit', async () => {
    const s = setup({ refreshRate: { ratePerSec: 1, burst: 1 } });
    const { clock, inner, cache } = s;
    await prime(s, keyA);
    await prime(s, keyB);
    await clock.advance(55 * MIN);
    await cache.getToken(keyA);
    await cache.getToken(keyB);
    expect(inner.calls).toBe(3);
    expect(cache.stats()).toMatchObject({ refreshes: 1, refreshesDeferred: 1 });
    await clock.advance(1_000);
    await cache.getToken(keyB);
    expect(inner.calls).toBe(4);
  });

  it('uses the 5 minute minimum for short-lived tokens', async () => {
    const s = setup();
    // 20 min lifetime: 10 % is 2 min, so the 5 min minimum applies: refresh at 15 min.
    await prime(s, keyA, 20 * MIN);
    await s.clock.advance(14 * MIN);
    await s.cache.getToken(keyA);
    expect(s.inner.calls).toBe(1);
    await s.clock.advance(1 * MIN);
    await s.cache.getToken(keyA);
    expect(s.inner.calls).toBe(2);
  });

  it('keeps the old token when a refresh fails recoverably and retries after the interval', async () => {
    const s = setup({ policy: { retryIntervalMs: 30_000 } });
    const { clock, inner, cache } = s;
    const old = await prime(s, keyA);
    await clock.advance(55 * MIN);
    expect(await cache.getToken(keyA)).toBe(old);
    await inner.rejectNext(new Error('IMDS 500'));
    expect(await cache.getToken(keyA)).toBe(old);
    expect(inner.calls).toBe(2);
    expect(cache.stats().refreshFailures).toBe(1);

    await clock.advance(29_000);
    await cache.getToken(keyA);
    expect(inner.calls).toBe(2);
    await clock.advance(1_000);
    expect(await cache.getToken(keyA)).toBe(old);
    expect(inner.calls).toBe(3);
  });

  it('honours Retry-After from a failed refresh when longer than the interval', async () => {
    const s = setup({ policy: { retryIntervalMs: 10_000 } });
    await prime(s, keyA);
    await s.clock.advance(55 * MIN);
    await s.cache.getToken(keyA);
    await s.inner.rejectNext(new RetryAfterError('throttled', 60_000));
    await s.clock.advance(59_000);
    await s.cache.getToken(keyA);
    expect(s.inner.calls).toBe(2);
    await s.clock.advance(1_000);
    await s.cache.getToken(keyA);
    expect(s.inner.calls).toBe(3);
  });

  it('drops the cached token when a refresh fails irrecoverably', async () => {
    const s = setup();
    await prime(s, keyA);
    await s.clock.advance(55 * MIN);
    await s.cache.getToken(keyA);
    await s.inner.rejectNext(new TerminalError('identity not assigned'));
    expect(s.cache.stats().size).toBe(0);
    void s.cache.getToken(keyA);
    await flushMicrotasks();
    expect(s.inner.calls).toBe(3);
  });

  it('never caches a token with less than the floor of life, but still returns it', async () => {
    const s = setup();
    const short = await prime(s, keyA, 30_000);
    expect(short.accessToken).toBe('t1');
    expect(s.cache.stats().size).toBe(0);
    void s.cache.getToken(keyA);
    await flushMicrotasks();
    expect(s.inner.calls).toBe(2);
  });

  it('stops serving a cached token once less than the floor remains', async () => {
    const s = setup();
    const { clock, inner, cache } = s;
    await prime(s, keyA, 10 * MIN);
    // Refresh is due at once (the 5 min minimum exceeds 10 % of 10 min, and the first attempt is spaced by
    // the retry interval); let refreshes fail so the old token ages.
    await clock.advance(5 * MIN);
    await cache.getToken(keyA);
    await inner.rejectNext(new Error('down'));
    await clock.advance(4 * MIN);
    // 60 s left: still served (the refresh retry is due, so one more call starts).
    await cache.getToken(keyA);
    expect(inner.calls).toBe(3);
    await inner.rejectNext(new Error('down'));
    await clock.advance(1);
    const miss = cache.getToken(keyA);
    await flushMicrotasks();
    expect(inner.calls).toBe(4);
    const fresh = await inner.resolveNext(clock);
    expect(await miss).toBe(fresh);
  });

  it('is bounded: evicts the least recently used entry', async () => {
    const s = setup({ maxEntries: 3 });
    const keys = ['a', 'b', 'c', 'd'].map((id) => key(`msi:${id}`, 'r'));
    const [a, b, c, d] = keys as [TokenKey, TokenKey, TokenKey, TokenKey];
    await prime(s, a);
    await prime(s, b);
    await prime(s, c);
    await s.cache.getToken(a); // a becomes most recently used; b is now the oldest
    await prime(s, d);
    expect(s.cache.stats()).toMatchObject({ size: 3, evictions: 1 });
    await s.cache.getToken(a);
    expect(s.inner.calls).toBe(4);
    void s.cache.getToken(b);
    await flushMicrotasks();
    expect(s.inner.calls).toBe(5);
  });

  it('invalidate(upstream id) drops only that upstream; invalidateAll drops everything', async () => {
    const s = setup();
    await prime(s, keyA);
    await prime(s, { ...keyA, resource: 'https://vault.azure.net' });
    await prime(s, keyB);
    s.cache.invalidate(keyA.upstream.id);
    expect(s.cache.stats()).toMatchObject({ size: 1, invalidations: 2 });
    await s.cache.getToken(keyB);
    expect(s.inner.calls).toBe(3);
    s.cache.invalidateAll();
    expect(s.cache.stats().size).toBe(0);
  });

  it('does not store the result of a flight that was under way when its identity was invalidated', async () => {
    const { clock, inner, cache } = setup();
    const before = cache.getToken(keyA);
    await flushMicrotasks();
    cache.invalidate(keyA.upstream.id);
    const after = cache.getToken(keyA);
    await flushMicrotasks();
    expect(inner.calls).toBe(2);
    const first = await inner.resolveNext(clock, 60 * MIN, 'old-binding');
    expect(await before).toBe(first);
    expect(cache.stats().size).toBe(0);
    const second = await inner.resolveNext(clock, 60 * MIN, 'new-binding');
    expect(await after).toBe(second);
    expect(await cache.getToken(keyA)).toBe(second);
  });

  it('rejects an aborted waiter without cancelling the shared call for the others', async () => {
    const { clock, inner, cache } = setup();
    const controller = new AbortController();
    const aborted = cache.getToken(keyA, controller.signal);
    const other = cache.getToken(keyA);
    await flushMicrotasks();
    controller.abort(new Error('client went away'));
    await expect(aborted).rejects.toThrow('client went away');
    const token = await inner.resolveNext(clock);
    expect(await other).toBe(token);
    expect(await cache.getToken(keyA)).toBe(token);
    expect(inner.calls).toBe(1);
  });

  it('shares an upstream failure with every waiter of the flight and does not cache it', async () => {
    const { inner, cache } = setup();
    const requests = [cache.getToken(keyA), cache.getToken(keyA)];
    await flushMicrotasks();
    await inner.rejectNext(new Error('boom'));
    for (const request of requests) await expect(request).rejects.toThrow('boom');
    void cache.getToken(keyA);
    await flushMicrotasks();
    expect(inner.calls).toBe(2);
  });

  it('rejects invalid options', () => {
    expect(() => new CachingTokenSource(new FakeSource(), { maxEntries: 0 })).toThrow(RangeError);
    expect(() => new CachingTokenSource(new FakeSource(), { policy: { refreshBeforeFraction: 1 } })).toThrow(RangeError);
  });
});

describe('describeAccessToken', () => {
  it('omits the secret', () => {
    const summary = describeAccessToken({ accessToken: 'secret', expiresOnMs: 0, resource: 'r', clientId: 'c' });
    expect(JSON.stringify(summary)).not.toContain('secret');
  });
});
