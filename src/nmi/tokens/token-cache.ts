/**
 * {@link CachingTokenSource}: a {@link TokenSource} decorator that caches tokens per (upstream id,
 * resource), coalesces concurrent misses into one upstream call (single-flight), refreshes ahead of
 * expiry in the background while still serving the valid old token, and is bounded (LRU): keys come
 * from requests (e.g. arbitrary object IDs), so nothing here grows with them beyond `maxEntries`. The
 * policy is data ({@link RefreshPolicy}); time is injected ({@link Clock}).
 * @module
 */
import type { AccessToken } from '../../azure/access-token.ts';
import { LruMap } from '../../lib/lru-map.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { findInChain, RetryAfterError, TerminalError } from '../../lib/errors.ts';
import { TokenBucket, type RateOptions } from '../limits.ts';
import type { TokenKey, TokenSource } from './token-source.ts';

/** When to refresh and what not to cache. All durations in milliseconds. */
export interface RefreshPolicy {
  /** Refresh when less than max(this, `refreshBeforeFraction` × lifetime) of life remains. */
  readonly refreshBeforeMinMs: number;
  /** Fraction of the token's lifetime (0..1) that must remain, see `refreshBeforeMinMs`. */
  readonly refreshBeforeFraction: number;
  /** Never cache (or serve from cache) a token with less life than this. */
  readonly minRemainingMs: number;
  /** Upper bound on how long a token is served before a refresh is due, whatever its expiry. */
  readonly maxAgeMs: number;
  /** After a refresh (failed, or one that returned a token already due), wait this long before the next. */
  readonly retryIntervalMs: number;
  /** ± fraction of `retryIntervalMs` applied at random so that many entries do not retry in lockstep. */
  readonly retryJitter: number;
}

export const DEFAULT_REFRESH_POLICY: RefreshPolicy = Object.freeze({
  refreshBeforeMinMs: 5 * 60_000,
  refreshBeforeFraction: 0.1,
  minRemainingMs: 60_000,
  maxAgeMs: Number.POSITIVE_INFINITY,
  retryIntervalMs: 30_000,
  retryJitter: 0.2,
});

export interface CachingTokenSourceOptions {
  /** Maximum number of cached tokens; the least recently used is evicted beyond it. Default 1,000. */
  readonly maxEntries?: number;
  readonly policy?: Partial<RefreshPolicy>;
  /**
   * Rate of background refreshes (default 10/s, burst 10), so that many tokens falling due together do
   * not crowd out first-token requests upstream. A refresh refused here is simply tried on a later hit;
   * misses are never limited by it.
   */
  readonly refreshRate?: RateOptions;
  /** Errors after which a cached token is dropped rather than kept; default: a {@link TerminalError} in the chain. */
  readonly isIrrecoverable?: (error: unknown) => boolean;
  readonly clock?: Clock;
  /** Random source for jitter, in [0, 1). */
  readonly random?: () => number;
}

/** Counters for metrics; monotonically increasing except `size` and `inFlight`. */
export interface TokenCacheStats {
  /** Requests answered from the cache. */
  hits: number;
  /** Requests that found no usable token (each either started or joined a flight). */
  misses: number;
  /** Misses that joined a flight already under way instead of calling upstream. */
  coalesced: number;
  /** Background refreshes started. */
  refreshes: number;
  /** Background refreshes due but put off by `refreshRate`. */
  refreshesDeferred: number;
  /** Background refreshes that failed (old token kept if recoverable). */
  refreshFailures: number;
  /** Calls to the inner source. */
  upstreamCalls: number;
  /** Entries dropped to respect `maxEntries`. */
  evictions: number;
  /** Entries dropped by `invalidate`/`invalidateAll`. */
  invalidations: number;
  size: number;
  inFlight: number;
}

interface Entry {
  readonly upstreamId: string;
  readonly token: AccessToken;
  /** From then on, a request starts a background refresh. */
  readonly refreshAtMs: number;
  /** No refresh starts before this (spacing after a refresh attempt). */
  notBeforeAttemptMs: number;
}

interface FlightState {
  /** Set by invalidation: the result is handed to those already waiting but never stored. */
  cancelled: boolean;
}

interface Flight {
  readonly upstreamId: string;
  readonly promise: Promise<AccessToken>;
  readonly state: FlightState;
}

export function isTerminal(error: unknown): boolean {
  return findInChain(error, TerminalError) !== undefined;
}

function cacheKey(key: TokenKey): string {
  // NUL cannot occur in an upstream id or a resource URI that passed request validation.
  return `${key.upstream.id}\u0000${key.resource}`;
}

/** Resolves or rejects like `promise`, but rejects with the signal's reason as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', onAbort);
    });
  });
}

export class CachingTokenSource implements TokenSource {
  private readonly inner: TokenSource;
  private readonly policy: RefreshPolicy;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly isIrrecoverable: (error: unknown) => boolean;
  private readonly refreshBucket: TokenBucket;
  /** Cached tokens by cache key, at most `maxEntries`; a hit makes its key the most recently used. */
  private readonly entries: LruMap<string, Entry>;
  /** Upstream calls under way by cache key (miss or background refresh); removed when they settle. */
  private readonly flights = new Map<string, Flight>();
  private readonly counters = {
    hits: 0,
    misses: 0,
    coalesced: 0,
    refreshes: 0,
    refreshesDeferred: 0,
    refreshFailures: 0,
    upstreamCalls: 0,
    evictions: 0,
    invalidations: 0,
  };

  constructor(inner: TokenSource, options: CachingTokenSourceOptions = {}) {
    const policy: RefreshPolicy = { ...DEFAULT_REFRESH_POLICY, ...options.policy };
    const maxEntries = options.maxEntries ?? 1_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${String(maxEntries)}`);
    if (!(policy.refreshBeforeFraction >= 0 && policy.refreshBeforeFraction < 1)) {
      throw new RangeError(`refreshBeforeFraction must be in [0, 1), got ${String(policy.refreshBeforeFraction)}`);
    }
    if (!(policy.retryJitter >= 0 && policy.retryJitter < 1)) throw new RangeError(`retryJitter must be in [0, 1), got ${String(policy.retryJitter)}`);
    for (const name of ['refreshBeforeMinMs', 'minRemainingMs', 'maxAgeMs', 'retryIntervalMs'] as const) {
      if (!(policy[name] >= 0)) throw new RangeError(`${name} must be ≥ 0, got ${String(policy[name])}`);
    }
    this.inner = inner;
    this.policy = Object.freeze(policy);
    this.entries = new LruMap(maxEntries, () => {
      this.counters.evictions++;
    });
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.isIrrecoverable = options.isIrrecoverable ?? isTerminal;
    this.refreshBucket = new TokenBucket(options.refreshRate ?? { ratePerSec: 10, burst: 10 }, this.clock.now());
  }

  /**
   * The cached token for `key` if it is usable now, counted as a hit (and refreshed in the background
   * when due), else undefined and nothing counted: {@link getToken}'s hit, without a promise, for a
   * caller that answers synchronously when it can.
   */
  peek(key: TokenKey): AccessToken | undefined {
    return this.hit(cacheKey(key), key);
  }

  getToken(key: TokenKey, signal?: AbortSignal): Promise<AccessToken> {
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    const k = cacheKey(key);
    const cached = this.hit(k, key);
    if (cached !== undefined) return Promise.resolve(cached);
    this.entries.delete(k);
    this.counters.misses++;
    let flight = this.flights.get(k);
    if (flight === undefined) flight = this.startFlight(k, key, false);
    else this.counters.coalesced++;
    // One waiter aborting never cancels the shared call: the others still wait, and the result is cached.
    return raceAbort(flight.promise, signal);
  }

  /** {@link peek} by cache key `k`. */
  private hit(k: string, key: TokenKey): AccessToken | undefined {
    const now = this.clock.now();
    const entry = this.entries.get(k);
    if (entry === undefined || !this.usable(entry, now)) return undefined;
    this.counters.hits++;
    if (now >= entry.refreshAtMs && now >= entry.notBeforeAttemptMs && !this.flights.has(k)) {
      if (this.refreshBucket.tryTake(now)) {
        this.counters.refreshes++;
        // Failures are handled inside the flight (keep or drop the old token); nobody awaits this one.
        this.startFlight(k, key, true).promise.catch(() => undefined);
      } else {
        this.counters.refreshesDeferred++;
      }
    }
    return entry.token;
  }

  /** Drops every cached token of upstream `upstreamId` and detaches its flights (their results are not stored). */
  invalidate(upstreamId: string): void {
    for (const [k, entry] of this.entries) {
      if (entry.upstreamId === upstreamId) {
        this.entries.delete(k);
        this.counters.invalidations++;
      }
    }
    for (const [k, flight] of this.flights) {
      if (flight.upstreamId === upstreamId) {
        flight.state.cancelled = true;
        this.flights.delete(k);
      }
    }
  }

  /** Drops every cached token and detaches every flight. */
  invalidateAll(): void {
    this.counters.invalidations += this.entries.size;
    this.entries.clear();
    for (const flight of this.flights.values()) flight.state.cancelled = true;
    this.flights.clear();
  }

  /** Requests answered from the cache so far (cheap: no snapshot object). */
  get hitCount(): number {
    return this.counters.hits;
  }

  stats(): TokenCacheStats {
    return { ...this.counters, size: this.entries.size, inFlight: this.flights.size };
  }

  private usable(entry: Entry, now: number): boolean {
    return entry.token.expiresOnMs - now >= this.policy.minRemainingMs;
  }

  private startFlight(k: string, key: TokenKey, refresh: boolean): Flight {
    const state: FlightState = { cancelled: false };
    const flight: Flight = { upstreamId: key.upstream.id, promise: this.fly(k, key, refresh, state), state };
    this.flights.set(k, flight);
    const cleanup = (): void => {
      if (this.flights.get(k) === flight) this.flights.delete(k);
    };
    flight.promise.then(cleanup, cleanup);
    return flight;
  }

  private async fly(k: string, key: TokenKey, refresh: boolean, state: FlightState): Promise<AccessToken> {
    // Let startFlight register the flight first, then re-check: another flight may have stored a token
    // between our caller's miss and now.
    await Promise.resolve();
    if (!refresh) {
      const cached = this.entries.peek(k);
      if (cached !== undefined && this.usable(cached, this.clock.now())) return cached.token;
    }
    this.counters.upstreamCalls++;
    let token: AccessToken;
    try {
      token = await this.inner.getToken(key);
    } catch (error) {
      if (refresh && !state.cancelled) this.onRefreshError(k, error);
      throw error;
    }
    if (!state.cancelled) this.store(k, key.upstream.id, token);
    return token;
  }

  private onRefreshError(k: string, error: unknown): void {
    this.counters.refreshFailures++;
    const entry = this.entries.peek(k);
    if (entry === undefined) return;
    if (this.isIrrecoverable(error)) {
      this.entries.delete(k);
      return;
    }
    const retryAfter = findInChain(error, RetryAfterError)?.retryAfterMs ?? 0;
    entry.notBeforeAttemptMs = this.clock.now() + Math.max(retryAfter, this.jittered(this.policy.retryIntervalMs));
  }

  private store(k: string, upstreamId: string, token: AccessToken): void {
    const now = this.clock.now();
    if (token.expiresOnMs - now < this.policy.minRemainingMs) {
      // Too close to expiry to be worth caching; the caller still gets it.
      this.entries.delete(k);
      return;
    }
    const lifetime = token.expiresOnMs - Math.min(token.notBeforeMs ?? now, now);
    const refreshBefore = Math.max(this.policy.refreshBeforeMinMs, this.policy.refreshBeforeFraction * lifetime);
    const refreshAtMs = Math.min(token.expiresOnMs - refreshBefore, now + this.policy.maxAgeMs);
    this.entries.set(k, { upstreamId, token, refreshAtMs, notBeforeAttemptMs: now + this.jittered(this.policy.retryIntervalMs) });
  }

  private jittered(ms: number): number {
    return ms * (1 + this.policy.retryJitter * (2 * this.random() - 1));
  }
}
