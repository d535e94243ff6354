/**
 * Remembers MIC's own recent AAI writes so a reconcile never acts on a cache that has not caught up
 * with them yet (which would re-create what was just created, or flip a state back). Upstream slept
 * 200 ms after every cycle for the same reason; here a target whose cache lags is simply retried a
 * moment later (retry-policy.ts). Entries expire, so a lost watch event cannot stall a target for long.
 * @module
 */
import type { AzureAssignedIdentity } from '../api/index.ts';
import { objectKey } from './model.ts';
import { MIC_RETRY_POLICY } from './retry-policy.ts';

interface Tracked {
  readonly targetKey: string;
  /** The resource version our write produced, or undefined for a delete. */
  readonly resourceVersion: string | undefined;
  readonly at: number;
}

/** Numeric comparison of resource versions (etcd revisions); falls back to string equality. */
function olderThan(cached: string, written: string): boolean {
  if (/^\d+$/.test(cached) && /^\d+$/.test(written)) return BigInt(cached) < BigInt(written);
  return cached !== written;
}

export class WriteTracker {
  private readonly entries = new Map<string, Tracked>();
  private readonly ttlMs: number;

  /** `ttlMs`: how long a write is waited for before it is taken as seen. */
  constructor(ttlMs = MIC_RETRY_POLICY.ownWriteWaitMs) {
    this.ttlMs = ttlMs;
  }

  written(targetKey: string, namespace: string, name: string, resourceVersion: string, now: number): void {
    this.entries.set(objectKey(namespace, name), { targetKey, resourceVersion, at: now });
  }

  deleted(targetKey: string, namespace: string, name: string, now: number): void {
    this.entries.set(objectKey(namespace, name), { targetKey, resourceVersion: undefined, at: now });
  }

  /** Whether the cached AAIs of `targetKey` miss one of our recent writes; settled entries are dropped. */
  lagging(targetKey: string, currentOnTarget: readonly AzureAssignedIdentity[], now: number): boolean {
    const cached = new Map(currentOnTarget.map((assigned) => [objectKey(assigned.metadata.namespace ?? '', assigned.metadata.name ?? ''), assigned]));
    let lagging = false;
    for (const [key, entry] of this.entries) {
      if (now - entry.at > this.ttlMs) {
        this.entries.delete(key);
        continue;
      }
      if (entry.targetKey !== targetKey) continue;
      const seen = cached.get(key);
      const settled =
        entry.resourceVersion === undefined
          ? seen === undefined
          : seen !== undefined && !olderThan(seen.metadata.resourceVersion ?? '', entry.resourceVersion);
      if (settled) this.entries.delete(key);
      else lagging = true;
    }
    return lagging;
  }
}
