/**
 * Polls per long-running operation: for each compute operation ARM started, how many times clients
 * fetched its status URL, so a test can assert a client's polling (e.g. that it honours `Retry-After`).
 * It holds the live operation records (their counts and status move on), the latest `capacity` of them.
 * Read through the admin API next to the request log (`GET /requests/operations`).
 * @module
 */
import type { LroKind, OperationRecord, OperationStatus } from './operations.ts';

/** One operation's polling, as the admin API returns it. */
export interface LroPollEntry {
  readonly operationId: string;
  readonly kind: LroKind;
  readonly resourceId: string;
  /** ISO-8601 start of the operation. */
  readonly startTime: string;
  /** ISO-8601 end, once it finished. */
  readonly endTime?: string;
  readonly status: OperationStatus;
  /** GETs of the operation's status URL that ARM answered. */
  readonly polls: number;
  /** Of those, the ones answered `InProgress`. */
  readonly pollsInProgress: number;
}

/** Filters of {@link LroPollLog.query}; all given ones must hold. */
export interface LroPollFilter {
  /** Substring of the resource ID, case-insensitive. */
  readonly resource?: string;
  readonly kind?: LroKind;
}

export const DEFAULT_POLL_LOG_CAPACITY = 10_000;

export class LroPollLog {
  readonly capacity: number;
  private readonly operations = new Map<string, OperationRecord>();

  constructor(capacity: number = DEFAULT_POLL_LOG_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`poll log: capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Starts following `operation` (its `polls` counters are kept by the operation handler). */
  started(operation: OperationRecord): void {
    this.operations.set(operation.id, operation);
    for (const id of this.operations.keys()) {
      if (this.operations.size <= this.capacity) break;
      this.operations.delete(id);
    }
  }

  /** Matching operations, oldest first. */
  query(filter: LroPollFilter = {}): LroPollEntry[] {
    const resource = filter.resource?.toLowerCase();
    return [...this.operations.values()]
      .filter((operation) => (resource === undefined || operation.resourceId.toLowerCase().includes(resource)) && (filter.kind === undefined || operation.kind === filter.kind))
      .map(toEntry);
  }

  /** Forgets every operation (with `DELETE /requests`). */
  clear(): void {
    this.operations.clear();
  }
}

function toEntry(operation: OperationRecord): LroPollEntry {
  return {
    operationId: operation.id,
    kind: operation.kind,
    resourceId: operation.resourceId,
    startTime: new Date(operation.startTime).toISOString(),
    ...(operation.endTime !== undefined ? { endTime: new Date(operation.endTime).toISOString() } : {}),
    status: operation.status,
    polls: operation.polls,
    pollsInProgress: operation.pollsInProgress,
  };
}
