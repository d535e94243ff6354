/**
 * {@link LimitedTokenSource}: a {@link TokenSource} decorator that makes each call in a slot of an
 * {@link UpstreamLimiter}, so the calls to one endpoint stay within what it allows (IMDS: about 20
 * identity requests/s and 5 at once per VM). Only misses get here: the cache sits in front.
 * @module
 */
import type { AccessToken } from '../../azure/access-token.ts';
import type { UpstreamLimiter } from '../limits.ts';
import type { TokenKey, TokenSource, Upstream } from './token-source.ts';

export class LimitedTokenSource<U extends Upstream> implements TokenSource<U> {
  private readonly inner: TokenSource<U>;
  private readonly limiter: UpstreamLimiter;

  constructor(inner: TokenSource<U>, limiter: UpstreamLimiter) {
    this.inner = inner;
    this.limiter = limiter;
  }

  /** Rejects with the limiter's {@link RetryAfterError} when no slot frees up in time. */
  getToken(key: TokenKey<U>, signal?: AbortSignal): Promise<AccessToken> {
    return this.limiter.run(() => this.inner.getToken(key, signal), signal);
  }
}
