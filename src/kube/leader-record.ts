/**
 * The leader election record and the decisions over it, pure: how a record reads from a Lease spec
 * and from the Endpoints annotation upstream's client-go wrote, how the Endpoints + Lease pair
 * combines into one record (client-go's MultiLock, `endpointsleases`), and one round's decision
 * (client-go's `tryAcquireOrRenew`): create, wait for the holder, or write.
 * @module
 */

/** Annotation on the Endpoints lock holding the JSON record (client-go `LeaderElectionRecordAnnotationKey`). */
export const LEADER_ANNOTATION = 'control-plane.alpha.kubernetes.io/leader';

/** Holder reported when the Endpoints and the Lease name different holders (client-go `UnknownLeader`). */
export const UNKNOWN_LEADER = 'leaderelection.k8s.io/unknown';

/** client-go's `LeaderElectionRecord`; times in ms since the epoch, undefined when absent (Go's zero time). */
export interface LeaderElectionRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: number | undefined;
  readonly renewTime: number | undefined;
  readonly leaderTransitions: number;
}

/** A record as read from one lock object, with the text it was read from (compared as client-go compares raw records). */
export interface ObservedRecord {
  readonly record: LeaderElectionRecord;
  readonly raw: string;
}

/** The record of a lock (one object, or the Endpoints + Lease pair) and the key that changes whenever either object's record does. */
export interface CombinedRecord {
  readonly record: LeaderElectionRecord;
  readonly key: string;
}

/** A record that cannot be read (a corrupt annotation): client-go refuses to act on it, and so do we. */
export class LeaderRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaderRecordError';
  }
}

export const EMPTY_RECORD: LeaderElectionRecord = { holderIdentity: '', leaseDurationSeconds: 0, acquireTime: undefined, renewTime: undefined, leaderTransitions: 0 };

/** Lease `spec` fields (MicroTime strings). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

function parseTime(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new LeaderRecordError(`${field} is not a time string`);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new LeaderRecordError(`${field} ${JSON.stringify(value)} is not an RFC 3339 time`);
  return ms;
}

function integer(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new LeaderRecordError(`${field} is not an integer`);
  return value;
}

function text(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new LeaderRecordError(`${field} is not a string`);
  return value;
}

/** Kubernetes MicroTime (RFC 3339 with microseconds), as a Lease stores its times. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** metav1.Time as Go marshals it: RFC 3339 in UTC, whole seconds. */
export function secondsTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function recordFromLeaseSpec(spec: LeaseSpec | undefined): LeaderElectionRecord {
  return {
    holderIdentity: text(spec?.holderIdentity, 'spec.holderIdentity'),
    leaseDurationSeconds: integer(spec?.leaseDurationSeconds, 'spec.leaseDurationSeconds'),
    acquireTime: parseTime(spec?.acquireTime, 'spec.acquireTime'),
    renewTime: parseTime(spec?.renewTime, 'spec.renewTime'),
    leaderTransitions: integer(spec?.leaseTransitions, 'spec.leaseTransitions'),
  };
}

export function leaseSpecFromRecord(record: LeaderElectionRecord): LeaseSpec {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    ...(record.acquireTime === undefined ? {} : { acquireTime: microTime(record.acquireTime) }),
    ...(record.renewTime === undefined ? {} : { renewTime: microTime(record.renewTime) }),
    leaseTransitions: record.leaderTransitions,
  };
}

/** A Lease's record with a raw form covering every field, so any change to it counts as a renewal. */
export function observeLease(spec: LeaseSpec | undefined): ObservedRecord {
  const record = recordFromLeaseSpec(spec);
  return { record, raw: JSON.stringify([spec?.holderIdentity, spec?.leaseDurationSeconds, spec?.acquireTime, spec?.renewTime, spec?.leaseTransitions]) };
}

/**
 * The record in the Endpoints annotation, as client-go's EndpointsLock reads it: no annotation is the
 * empty record (free to take); text that is not a record is an error (client-go refuses it too).
 */
export function observeEndpointsAnnotation(annotation: string | undefined): ObservedRecord {
  if (annotation === undefined) return { record: EMPTY_RECORD, raw: '' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(annotation);
  } catch {
    throw new LeaderRecordError(`annotation ${LEADER_ANNOTATION} is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new LeaderRecordError(`annotation ${LEADER_ANNOTATION} is not a JSON object`);
  const fields = parsed as Record<string, unknown>;
  const record: LeaderElectionRecord = {
    holderIdentity: text(fields['holderIdentity'], 'holderIdentity'),
    leaseDurationSeconds: integer(fields['leaseDurationSeconds'], 'leaseDurationSeconds'),
    acquireTime: parseTime(fields['acquireTime'], 'acquireTime'),
    renewTime: parseTime(fields['renewTime'], 'renewTime'),
    leaderTransitions: integer(fields['leaderTransitions'], 'leaderTransitions'),
  };
  return { record, raw: annotation };
}

/** The annotation text for a record, byte for byte as client-go v0.23's EndpointsLock marshals it. */
export function formatEndpointsAnnotation(record: LeaderElectionRecord): string {
  return JSON.stringify({
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: record.acquireTime === undefined ? null : secondsTime(record.acquireTime),
    renewTime: record.renewTime === undefined ? null : secondsTime(record.renewTime),
    leaderTransitions: record.leaderTransitions,
  });
}

/**
 * Whether two locks hold the same record: the same holder, duration and transitions, and the same
 * times to the second (the Endpoints annotation keeps whole seconds, the Lease microseconds).
 */
export function sameRecord(a: LeaderElectionRecord, b: LeaderElectionRecord): boolean {
  const second = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.floor(ms / 1000));
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.leaderTransitions === b.leaderTransitions &&
    second(a.acquireTime) === second(b.acquireTime) &&
    second(a.renewTime) === second(b.renewTime)
  );
}

/**
 * The record of the Endpoints (primary) + Lease (secondary) pair, as client-go's MultiLock.Get: the
 * Endpoints record, its holder replaced by {@link UNKNOWN_LEADER} when the Lease names another one,
 * and a key that changes when either record changes. Undefined when neither object exists (create).
 *
 * Two cases differ from client-go, both towards waiting: a missing Endpoints next to a Lease reads as
 * an empty Endpoints record (client-go would create the Endpoints in our name before owning anything);
 * a missing Lease reads as the Endpoints record alone whoever holds it (client-go errors when that is
 * us, and then can never renew again until someone recreates the Lease).
 */
export function combineEndpointsAndLease(endpoints: ObservedRecord | undefined, lease: ObservedRecord | undefined): CombinedRecord | undefined {
  if (endpoints === undefined && lease === undefined) return undefined;
  if (lease === undefined) return endpoints === undefined ? undefined : { record: endpoints.record, key: endpoints.raw };
  const primary = endpoints ?? { record: EMPTY_RECORD, raw: '' };
  const agree = primary.record.holderIdentity === lease.record.holderIdentity;
  return {
    record: agree ? primary.record : { ...primary.record, holderIdentity: UNKNOWN_LEADER },
    key: `${primary.raw},${lease.raw}`,
  };
}

/** When this candidate last saw the lock's record change (its local clock: skew between nodes does not matter). */
export interface Observation {
  readonly key: string;
  readonly holder: string;
  readonly at: number;
}

export type RoundDecision =
  /** Someone else holds the lock and it has not expired. */
  | { readonly kind: 'held'; readonly observation: Observation }
  /** Write `record` (create what is missing, replace what exists): renew when we hold it, else take it. */
  | { readonly kind: 'write'; readonly record: LeaderElectionRecord; readonly acquiring: boolean; readonly observation: Observation };

export interface RoundInput {
  /** The lock's record now; undefined when the lock does not exist yet. */
  readonly current: CombinedRecord | undefined;
  readonly previous: Observation | undefined;
  readonly identity: string;
  readonly now: number;
  /** Our lease duration, written into the record and used when the record carries none. */
  readonly leaseDurationMs: number;
}

/**
 * One round of client-go's tryAcquireOrRenew. The lock is expired when its holder is empty (released)
 * or when its record has not changed for its lease duration since we first saw it so.
 */
export function decideRound(input: RoundInput): RoundDecision {
  const { current, previous, identity, now, leaseDurationMs } = input;
  const fresh: LeaderElectionRecord = {
    holderIdentity: identity,
    leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
    acquireTime: now,
    renewTime: now,
    leaderTransitions: 0,
  };
  if (current === undefined) return { kind: 'write', record: fresh, acquiring: true, observation: { key: '', holder: identity, at: now } };
  const { record } = current;
  const observation = previous !== undefined && previous.key === current.key ? previous : { key: current.key, holder: record.holderIdentity, at: now };
  const heldByUs = record.holderIdentity === identity;
  if (!heldByUs && !isExpired(record, observation, now, leaseDurationMs)) return { kind: 'held', observation };
  return {
    kind: 'write',
    acquiring: !heldByUs,
    observation,
    record: {
      ...fresh,
      acquireTime: heldByUs ? (record.acquireTime ?? now) : now,
      leaderTransitions: heldByUs ? record.leaderTransitions : record.leaderTransitions + 1,
    },
  };
}

/** Released (no holder), or unchanged for the record's lease duration (ours when it has none) since `observation.at`. */
export function isExpired(record: LeaderElectionRecord, observation: Observation, now: number, leaseDurationMs: number): boolean {
  if (record.holderIdentity === '') return true;
  const durationMs = record.leaseDurationSeconds > 0 ? record.leaseDurationSeconds * 1000 : leaseDurationMs;
  return observation.at + durationMs <= now;
}

/** The record a leader writes when it steps down (client-go's release): no holder, a 1 s lease. */
export function releasedRecord(current: LeaderElectionRecord, now: number): LeaderElectionRecord {
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: current.acquireTime, renewTime: now, leaderTransitions: current.leaderTransitions };
}
