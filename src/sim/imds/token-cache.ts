/**
 * IMDS's token cache: repeated requests for the same identity and resource get the same token, with
 * a decreasing `expires_in` (azure-protocols.md §1.2), until it is close to expiry. Concurrent misses
 * share one signing (in-flight map).
 * @module
 */
import type { IssuedToken } from '../tokens/issuer.ts';

/** A cached token is replaced once less than this remains of its life. */
export const REFRESH_BEFORE_EXPIRY_SECONDS = 300;

export class ManagedIdentityTokenCache {
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly inFlight = new Map<string, Promise<IssuedToken>>();

  /** The cache key: the identity as it appears in the token, and the resource exactly as sent. */
  static key(parts: { clientId: string; principalId: string; identityResourceId: string; computeResourceId: string; resource: string }): string {
    const ids = [parts.clientId, parts.principalId, parts.identityResourceId, parts.computeResourceId].map((id) => id.toLowerCase());
    return JSON.stringify([...ids, parts.resource]);
  }

  /** The cached token for `key` while it has more than the refresh margin left, else a new one from `issue`. */
  async getOrIssue(key: string, nowSeconds: () => number, issue: () => Promise<IssuedToken>): Promise<IssuedToken> {
    const fresh = this.fresh(key, nowSeconds());
    if (fresh !== undefined) return fresh;
    let flight = this.inFlight.get(key);
    if (flight === undefined) {
      // `.finally` runs asynchronously, so the entry is always set before it is removed.
      flight = this.issueAndStore(key, issue).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, flight);
    }
    return flight;
  }

  private async issueAndStore(key: string, issue: () => Promise<IssuedToken>): Promise<IssuedToken> {
    const issued = await issue();
    this.tokens.set(key, issued);
    return issued;
  }

  private fresh(key: string, now: number): IssuedToken | undefined {
    const cached = this.tokens.get(key);
    return cached !== undefined && cached.expiresOn - now > REFRESH_BEFORE_EXPIRY_SECONDS ? cached : undefined;
  }
}
