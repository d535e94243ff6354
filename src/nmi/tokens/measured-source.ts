/**
 * {@link MeasuredTokenSource}: a {@link TokenSource} decorator that reports every call it passes on
 * to upstream's IMDS metrics (`aadpodidentity_imds_operations_duration_seconds`, and
 * `..._errors_count` when it fails), labelled with upstream's `operation_type` for the call
 * (`adal_token_msi`, `adal_token_msi_userassignedid`, `adal_token`). Wrapped inside the IMDS limiter:
 * the time measured is the call's, not its wait for a slot.
 * @module
 */
import type { AccessToken } from '../../azure/access-token.ts';
import type { Clock } from '../../lib/clock.ts';
import type { ImdsOperation, NmiMetrics } from '../metrics.ts';
import type { TokenKey, TokenSource, Upstream } from './token-source.ts';

export interface MeasuredTokenSourceOptions<U extends Upstream> {
  readonly metrics: Pick<NmiMetrics, 'observeUpstream'>;
  readonly clock: Clock;
  /** The `operation_type` label of a call for `upstream`. */
  readonly operationOf: (upstream: U) => ImdsOperation;
}

export class MeasuredTokenSource<U extends Upstream> implements TokenSource<U> {
  private readonly inner: TokenSource<U>;
  private readonly options: MeasuredTokenSourceOptions<U>;

  constructor(inner: TokenSource<U>, options: MeasuredTokenSourceOptions<U>) {
    this.inner = inner;
    this.options = options;
  }

  async getToken(key: TokenKey<U>, signal?: AbortSignal): Promise<AccessToken> {
    const { clock, metrics } = this.options;
    const operation = this.options.operationOf(key.upstream);
    const started = clock.now();
    try {
      const token = await this.inner.getToken(key, signal);
      metrics.observeUpstream(operation, (clock.now() - started) / 1000, false);
      return token;
    } catch (error) {
      metrics.observeUpstream(operation, (clock.now() - started) / 1000, true);
      throw error;
    }
  }
}
