import { describe, expect, it } from 'vitest';
import { DEFAULT_IMDS_IDENTITY_LIMITS, IdentityRequestLimiter } from '../../../../src/sim/imds/limiter.ts';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_700_000_000_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

describe('IdentityRequestLimiter', () => {
  it('defaults to real IMDS: 20 requests/s and 5 concurrent', () => {
    expect(DEFAULT_IMDS_IDENTITY_LIMITS).toEqual({ requestsPerSecond: 20, maxConcurrent: 5 });
  });

  it('refuses the sixth concurrent request and admits again after a release', () => {
    const limiter = new IdentityRequestLimiter(clock().now);
    const admitted = Array.from({ length: 5 }, () => limiter.admit(DEFAULT_IMDS_IDENTITY_LIMITS));
    expect(admitted.every((admission) => admission.admitted)).toBe(true);
    expect(limiter.admit(DEFAULT_IMDS_IDENTITY_LIMITS)).toEqual({ admitted: false, reason: 'concurrency' });
    const [first] = admitted;
    if (first?.admitted !== true) throw new Error('unreachable');
    first.release();
    first.release(); // idempotent
    expect(limiter.inFlight).toBe(4);
    expect(limiter.admit(DEFAULT_IMDS_IDENTITY_LIMITS).admitted).toBe(true);
  });

  it('allows a burst of requestsPerSecond, then refills at that rate', () => {
    const time = clock();
    const limiter = new IdentityRequestLimiter(time.now);
    const limits = { requestsPerSecond: 20, maxConcurrent: 1000 };
    const outcomes = Array.from({ length: 21 }, () => limiter.admit(limits).admitted);
    expect(outcomes.filter(Boolean)).toHaveLength(20);
    expect(limiter.admit(limits)).toEqual({ admitted: false, reason: 'rate' });
    time.advance(49); // < 1/20 s: still empty
    expect(limiter.admit(limits).admitted).toBe(false);
    time.advance(1); // 50 ms = one token
    expect(limiter.admit(limits).admitted).toBe(true);
    expect(limiter.admit(limits).admitted).toBe(false);
    time.advance(10_000); // refills to the capacity, not beyond
    expect(Array.from({ length: 25 }, () => limiter.admit(limits).admitted).filter(Boolean)).toHaveLength(20);
  });

  it('admits everything when limits are off, and applies changed limits on the next call', () => {
    const limiter = new IdentityRequestLimiter(clock().now);
    expect(Array.from({ length: 100 }, () => limiter.admit(false).admitted).every(Boolean)).toBe(true);
    expect(limiter.admit({ requestsPerSecond: 20, maxConcurrent: 5 })).toEqual({ admitted: false, reason: 'concurrency' });
  });
});
