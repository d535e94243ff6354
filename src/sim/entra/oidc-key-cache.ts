/**
 * Per-issuer cache of OIDC signing keys for federated assertions. Keys are fetched on first use and
 * again when older than `maxAgeMs`; an assertion naming a `kid` the cached set lacks triggers one
 * refetch (the issuer may have rotated its keys), but at most once per `kidMissRefetchIntervalMs` per
 * issuer, so a flood of assertions with made-up kids cannot hammer the issuer. Concurrent fetches of
 * one issuer share one request. Failed fetches are not cached.
 * @module
 */
import type { JSONWebKeySet } from 'jose';
import { systemClock, type Clock } from '../../lib/clock.ts';

/** What the cache holds for one issuer. */
export interface CachedKeys {
  readonly jwks: JSONWebKeySet;
  /** When the keys were fetched (clock ms). */
  readonly fetchedAt: number;
  /** When a kid miss last caused a refetch (clock ms); undefined if never. */
  readonly lastKidMissRefetchAt: number | undefined;
}

export interface KeyCachePolicy {
  readonly maxAgeMs: number;
  readonly kidMissRefetchIntervalMs: number;
}

/** Entra re-reads issuer metadata within hours [mem]; an hour keeps tests honest and issuers unbothered. */
export const DEFAULT_KEY_CACHE_POLICY: KeyCachePolicy = Object.freeze({ maxAgeMs: 3_600_000, kidMissRefetchIntervalMs: 5_000 });

/** `use`: the cached keys; `fetch`: none or stale; `refetch-for-kid`: the kid is missing and a refetch is allowed. */
export type KeyCacheDecision = 'use' | 'fetch' | 'refetch-for-kid';

/** Whether `keyId` is among the set's keys. */
export function hasKey(jwks: JSONWebKeySet, keyId: string): boolean {
  return jwks.keys.some((key) => key.kid === keyId);
}

/** The pure policy: what to do for an assertion signed with `keyId` (undefined: no kid) given the cache entry. */
export function decideKeyFetch(entry: CachedKeys | undefined, keyId: string | undefined, now: number, policy: KeyCachePolicy): KeyCacheDecision {
  if (entry === undefined || now - entry.fetchedAt >= policy.maxAgeMs) return 'fetch';
  if (keyId === undefined || hasKey(entry.jwks, keyId)) return 'use';
  const last = entry.lastKidMissRefetchAt;
  return last === undefined || now - last >= policy.kidMissRefetchIntervalMs ? 'refetch-for-kid' : 'use';
}

export interface OidcKeyCacheOptions {
  /** Fetches an issuer's keys; rejects when they cannot be had. */
  readonly fetchKeys: (issuer: string) => Promise<JSONWebKeySet>;
  readonly clock?: Pick<Clock, 'now'>;
  readonly policy?: Partial<KeyCachePolicy>;
}

export class OidcKeyCache {
  private readonly fetchKeys: (issuer: string) => Promise<JSONWebKeySet>;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly policy: KeyCachePolicy;
  private readonly entries = new Map<string, CachedKeys>();
  private readonly inFlight = new Map<string, Promise<JSONWebKeySet>>();

  constructor(options: OidcKeyCacheOptions) {
    this.fetchKeys = options.fetchKeys;
    this.clock = options.clock ?? systemClock;
    this.policy = { ...DEFAULT_KEY_CACHE_POLICY, ...options.policy };
  }

  /** The issuer's keys for an assertion signed with `keyId`, fetched or refetched as the policy says. */
  async keysFor(issuer: string, keyId: string | undefined): Promise<JSONWebKeySet> {
    const entry = this.entries.get(issuer);
    const decision = decideKeyFetch(entry, keyId, this.clock.now(), this.policy);
    if (decision === 'use' && entry !== undefined) return entry.jwks;
    if (decision === 'refetch-for-kid' && entry !== undefined) {
      // Recorded before the fetch, so concurrent misses within the interval do not refetch again.
      this.entries.set(issuer, { ...entry, lastKidMissRefetchAt: this.clock.now() });
    }
    const jwks = await this.fetchShared(issuer);
    const latest = this.entries.get(issuer);
    this.entries.set(issuer, { jwks, fetchedAt: this.clock.now(), lastKidMissRefetchAt: latest?.lastKidMissRefetchAt });
    return jwks;
  }

  /** Drops every cached key set (tests; a changed CA list). */
  clear(): void {
    this.entries.clear();
  }

  private fetchShared(issuer: string): Promise<JSONWebKeySet> {
    let pending = this.inFlight.get(issuer);
    if (pending === undefined) {
      pending = this.fetchKeys(issuer).finally(() => this.inFlight.delete(issuer));
      this.inFlight.set(issuer, pending);
    }
    return pending;
  }
}
