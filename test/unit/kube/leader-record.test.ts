import { describe, expect, it } from 'vitest';
import {
  combineEndpointsAndLease,
  decideRound,
  EMPTY_RECORD,
  formatEndpointsAnnotation,
  isExpired,
  LeaderRecordError,
  leaseSpecFromRecord,
  observeEndpointsAnnotation,
  observeLease,
  releasedRecord,
  sameRecord,
  UNKNOWN_LEADER,
  type LeaderElectionRecord,
  type ObservedRecord,
} from '../../../src/kube/leader-record.ts';

// The pure half of leader election: records as upstream's client-go writes them into the Endpoints
// annotation, the Endpoints + Lease pair combined as client-go's MultiLock does, and one round's
// decision (wait, take, renew) with its expiry rule.

const T0 = Date.parse('2026-12-05T10:00:00.000Z');

/** The annotation text client-go v0.23's EndpointsLock writes (json.Marshal of LeaderElectionRecord). */
const UPSTREAM_ANNOTATION =
  '{"holderIdentity":"mic-7d9f8c-x2k4p","leaseDurationSeconds":15,"acquireTime":"2026-12-05T09:58:20Z","renewTime":"2026-12-05T10:00:00Z","leaderTransitions":3}';

function record(holder: string, fields: Partial<LeaderElectionRecord> = {}): LeaderElectionRecord {
  return { holderIdentity: holder, leaseDurationSeconds: 15, acquireTime: T0 - 100_000, renewTime: T0, leaderTransitions: 3, ...fields };
}

function observed(holder: string, raw: string, fields: Partial<LeaderElectionRecord> = {}): ObservedRecord {
  return { record: record(holder, fields), raw };
}

describe('Endpoints annotation records', () => {
  it('reads the record upstream writes', () => {
    const { record: read, raw } = observeEndpointsAnnotation(UPSTREAM_ANNOTATION);
    expect(read).toEqual({
      holderIdentity: 'mic-7d9f8c-x2k4p',
      leaseDurationSeconds: 15,
      acquireTime: Date.parse('2026-12-05T09:58:20Z'),
      renewTime: T0,
      leaderTransitions: 3,
    });
    expect(raw).toBe(UPSTREAM_ANNOTATION);
  });

  it('writes it byte for byte as client-go does (whole seconds, UTC, its field order)', () => {
    const read = observeEndpointsAnnotation(UPSTREAM_ANNOTATION).record;
    expect(formatEndpointsAnnotation(read)).toBe(UPSTREAM_ANNOTATION);
    expect(formatEndpointsAnnotation({ ...read, renewTime: T0 + 999 })).toBe(UPSTREAM_ANNOTATION);
    expect(formatEndpointsAnnotation(EMPTY_RECORD)).toBe('{"holderIdentity":"","leaseDurationSeconds":0,"acquireTime":null,"renewTime":null,"leaderTransitions":0}');
  });

  it('reads a released record (empty holder, null times as Go writes the zero time) and a missing annotation as free', () => {
    const released = observeEndpointsAnnotation('{"holderIdentity":"","leaseDurationSeconds":1,"acquireTime":null,"renewTime":null,"leaderTransitions":4}');
    expect(released.record).toEqual({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: undefined, renewTime: undefined, leaderTransitions: 4 });
    expect(observeEndpointsAnnotation(undefined)).toEqual({ record: EMPTY_RECORD, raw: '' });
    expect(observeEndpointsAnnotation('{}').record).toEqual(EMPTY_RECORD);
  });

  it.each([
    ['not JSON', '{holder'],
    ['not an object', '[1,2]'],
    ['a number as holder', '{"holderIdentity":7}'],
    ['a fractional duration', '{"holderIdentity":"a","leaseDurationSeconds":1.5}'],
    ['a time that is not RFC 3339', '{"holderIdentity":"a","renewTime":"yesterday"}'],
  ])('refuses %s (client-go refuses to act on it too)', (_label, text) => {
    expect(() => observeEndpointsAnnotation(text)).toThrow(LeaderRecordError);
  });
});

describe('Lease records', () => {
  it('round-trips through a Lease spec with microsecond times', () => {
    const original = record('ours', { acquireTime: T0 + 123, renewTime: T0 + 456 });
    const spec = leaseSpecFromRecord(original);
    expect(spec).toEqual({ holderIdentity: 'ours', leaseDurationSeconds: 15, acquireTime: '2026-12-05T10:00:00.123000Z', renewTime: '2026-12-05T10:00:00.456000Z', leaseTransitions: 3 });
    expect(observeLease(spec).record).toEqual(original);
  });

  it('every field is part of the raw form, so any change counts as a renewal', () => {
    const spec = leaseSpecFromRecord(record('ours'));
    expect(observeLease({ ...spec, leaseTransitions: 4 }).raw).not.toBe(observeLease(spec).raw);
    expect(observeLease({ ...spec }).raw).toBe(observeLease(spec).raw);
  });
});

describe('sameRecord: the record in the Endpoints and in the Lease', () => {
  const endpoints = observeEndpointsAnnotation(formatEndpointsAnnotation(record('ours', { acquireTime: T0 + 250, renewTime: T0 + 750 }))).record;
  const lease = observeLease(leaseSpecFromRecord(record('ours', { acquireTime: T0 + 250, renewTime: T0 + 750 }))).record;

  it('is the same when the times agree to the second (the annotation keeps seconds, the Lease microseconds)', () => {
    expect(endpoints.renewTime).not.toBe(lease.renewTime);
    expect(sameRecord(endpoints, lease)).toBe(true);
  });

  it.each([
    ['holder', { holderIdentity: 'other' }],
    ['duration', { leaseDurationSeconds: 16 }],
    ['transitions', { leaderTransitions: 4 }],
    ['renew time a second later', { renewTime: T0 + 1_750 }],
    ['no acquire time', { acquireTime: undefined }],
  ])('differs by %s', (_label, change) => {
    expect(sameRecord(endpoints, { ...lease, ...change })).toBe(false);
  });
});

describe('combineEndpointsAndLease (client-go MultiLock.Get)', () => {
  it('neither object: nothing to read, the lock is created', () => {
    expect(combineEndpointsAndLease(undefined, undefined)).toBeUndefined();
  });

  it('only the Endpoints (an upstream MIC holds it): its record alone', () => {
    const upstream = observed('upstream-0', 'E1');
    expect(combineEndpointsAndLease(upstream, undefined)).toEqual({ record: upstream.record, key: 'E1' });
  });

  it('both naming the same holder: the Endpoints record, keyed by both', () => {
    const combined = combineEndpointsAndLease(observed('ours', 'E1'), observed('ours', 'L1'));
    expect(combined?.record.holderIdentity).toBe('ours');
    expect(combined?.key).toBe('E1,L1');
  });

  it('different holders: the unknown leader, so nobody counts as holding it until both stop changing', () => {
    expect(combineEndpointsAndLease(observed('upstream-1', 'E1'), observed('ours', 'L1'))?.record.holderIdentity).toBe(UNKNOWN_LEADER);
    expect(combineEndpointsAndLease(observed('', 'E1'), observed('ours', 'L1'))?.record.holderIdentity).toBe(UNKNOWN_LEADER);
  });

  it('only the Lease: an empty Endpoints record beside it (free only if the Lease is free too)', () => {
    expect(combineEndpointsAndLease(undefined, observed('ours-old', 'L1'))).toEqual({ record: { ...EMPTY_RECORD, holderIdentity: UNKNOWN_LEADER }, key: ',L1' });
    expect(combineEndpointsAndLease(undefined, observed('', 'L1'))?.record.holderIdentity).toBe('');
  });

  it('the key changes when either object changes (a renewal of either keeps the lock alive)', () => {
    const base = combineEndpointsAndLease(observed('upstream-1', 'E1'), observed('', 'L1'))?.key;
    expect(combineEndpointsAndLease(observed('upstream-1', 'E2'), observed('', 'L1'))?.key).not.toBe(base);
    expect(combineEndpointsAndLease(observed('upstream-1', 'E1'), observed('', 'L2'))?.key).not.toBe(base);
  });
});

describe('decideRound (client-go tryAcquireOrRenew)', () => {
  const lease = 4_000;
  const held = (holder: string, key: string, fields: Partial<LeaderElectionRecord> = {}) => ({ record: record(holder, { leaseDurationSeconds: 4, ...fields }), key });

  it('creates the lock when there is none, as its first holder', () => {
    const decision = decideRound({ current: undefined, previous: undefined, identity: 'ours', now: T0, leaseDurationMs: lease });
    expect(decision).toMatchObject({ kind: 'write', acquiring: true, record: { holderIdentity: 'ours', leaseDurationSeconds: 4, acquireTime: T0, renewTime: T0, leaderTransitions: 0 } });
  });

  it('waits while the holder keeps changing the record, and takes it once unchanged for the lease duration', () => {
    const first = decideRound({ current: held('upstream', 'k1'), previous: undefined, identity: 'ours', now: T0, leaseDurationMs: lease });
    expect(first.kind).toBe('held');
    // Renewed 3.9 s later: a new observation, the clock starts again.
    const renewed = decideRound({ current: held('upstream', 'k2'), previous: first.observation, identity: 'ours', now: T0 + 3_900, leaseDurationMs: lease });
    expect(renewed).toMatchObject({ kind: 'held', observation: { key: 'k2', at: T0 + 3_900 } });
    // Unchanged for 3.999 s: still held; for 4 s: expired, taken with one more transition.
    expect(decideRound({ current: held('upstream', 'k2'), previous: renewed.observation, identity: 'ours', now: T0 + 7_899, leaseDurationMs: lease }).kind).toBe('held');
    const taken = decideRound({ current: held('upstream', 'k2'), previous: renewed.observation, identity: 'ours', now: T0 + 7_900, leaseDurationMs: lease });
    expect(taken).toMatchObject({ kind: 'write', acquiring: true, record: { holderIdentity: 'ours', acquireTime: T0 + 7_900, renewTime: T0 + 7_900, leaderTransitions: 4 } });
  });

  it('takes a released lock (empty holder) at once', () => {
    const decision = decideRound({ current: held('', 'k1', { leaseDurationSeconds: 1 }), previous: undefined, identity: 'ours', now: T0, leaseDurationMs: lease });
    expect(decision).toMatchObject({ kind: 'write', acquiring: true });
  });

  it('renews its own lock, keeping acquireTime and transitions', () => {
    const decision = decideRound({ current: held('ours', 'k1', { acquireTime: T0 - 60_000, leaderTransitions: 2 }), previous: undefined, identity: 'ours', now: T0, leaseDurationMs: lease });
    expect(decision).toMatchObject({ kind: 'write', acquiring: false, record: { holderIdentity: 'ours', acquireTime: T0 - 60_000, renewTime: T0, leaderTransitions: 2 } });
  });

  it('an unknown leader (the two locks disagree) is waited for like any holder, even by the previous leader', () => {
    const first = decideRound({ current: held(UNKNOWN_LEADER, 'k1'), previous: { key: 'old', holder: 'ours', at: T0 - 1_000 }, identity: 'ours', now: T0, leaseDurationMs: lease });
    expect(first.kind).toBe('held');
    expect(decideRound({ current: held(UNKNOWN_LEADER, 'k1'), previous: first.observation, identity: 'ours', now: T0 + 4_000, leaseDurationMs: lease }).kind).toBe('write');
  });

  it('uses the record’s lease duration, and ours when the record has none', () => {
    const long = decideRound({ current: held('upstream', 'k1', { leaseDurationSeconds: 15 }), previous: { key: 'k1', holder: 'upstream', at: T0 }, identity: 'ours', now: T0 + 14_999, leaseDurationMs: lease });
    expect(long.kind).toBe('held');
    const none = decideRound({ current: held('upstream', 'k1', { leaseDurationSeconds: 0 }), previous: { key: 'k1', holder: 'upstream', at: T0 }, identity: 'ours', now: T0 + 4_000, leaseDurationMs: lease });
    expect(none.kind).toBe('write');
  });
});

describe('isExpired and releasedRecord', () => {
  it('expiry is counted from when the record was last seen to change', () => {
    const observation = { key: 'k', holder: 'a', at: T0 };
    expect(isExpired(record('a', { leaseDurationSeconds: 15 }), observation, T0 + 14_999, 4_000)).toBe(false);
    expect(isExpired(record('a', { leaseDurationSeconds: 15 }), observation, T0 + 15_000, 4_000)).toBe(true);
    expect(isExpired(record('', { leaseDurationSeconds: 15 }), observation, T0, 4_000)).toBe(true);
  });

  it('a release empties the holder with a 1 s lease and keeps the transition count', () => {
    expect(releasedRecord(record('ours', { leaderTransitions: 5 }), T0 + 1)).toEqual({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: T0 - 100_000, renewTime: T0 + 1, leaderTransitions: 5 });
  });
});
