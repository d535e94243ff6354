/**
 * Compute's long-running operations (azure-protocols.md §3.3). A write starts an operation that
 * finishes `durationMs` later by running its `complete` callback, which applies the change (or
 * refuses it, e.g. when an identity being added was deleted meanwhile). While it runs, the resource is
 * locked: {@link OperationTracker.runningOn} tells writers to answer 409.
 *
 * Time comes from an injected {@link Clock}; an operation also settles when it is looked at after its
 * due time, so a poll never sees `InProgress` late even if a timer is slow.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { CancelTimer, Clock } from '../../lib/clock.ts';
import { internalExecutionError, type ArmError } from './errors.ts';

export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed';

/**
 * What a compute operation does: PUT or PATCH of a VM / scale set (a PUT that creates one included), or
 * its DELETE. Each kind has its own `Retry-After` hint (settings `lroRetryAfterSeconds`).
 */
export type LroKind = 'vmUpdate' | 'vmssUpdate' | 'vmDelete' | 'vmssDelete';
export const LRO_KINDS: readonly LroKind[] = ['vmUpdate', 'vmssUpdate', 'vmDelete', 'vmssDelete'];

export interface OperationRecord {
  /** The operation ID (a GUID), last segment of the `Azure-AsyncOperation` URL. */
  readonly id: string;
  readonly kind: LroKind;
  readonly subscriptionId: string;
  /** Location segment of the status URL (lower-case, no spaces, as ARM writes regions). */
  readonly location: string;
  /** ID of the resource the operation changes. */
  readonly resourceId: string;
  readonly startTime: number;
  readonly dueTime: number;
  status: OperationStatus;
  endTime?: number;
  error?: ArmError;
  /** GETs of the status URL ARM answered (both `Azure-AsyncOperation` and DELETE's `Location` monitor). */
  polls: number;
  /** Of those, the ones answered `InProgress`. */
  pollsInProgress: number;
}

export interface StartOperation {
  readonly kind: LroKind;
  readonly subscriptionId: string;
  readonly location: string;
  readonly resourceId: string;
  readonly durationMs: number;
  /** Applies the change when the operation ends; returns an error to make the operation fail. */
  readonly complete: () => ArmError | undefined;
}

/** Finished operations kept for late polls (oldest dropped first). */
const KEEP_FINISHED = 1000;

export class OperationTracker {
  private readonly clock: Clock;
  private readonly operations = new Map<string, OperationRecord>();
  private readonly pending = new Map<string, { readonly complete: () => ArmError | undefined; readonly cancel: CancelTimer }>();
  private readonly onError: (error: unknown, operation: OperationRecord) => void;

  /** `onError` hears about a `complete` callback that threw (the operation then fails). */
  constructor(clock: Clock, onError: (error: unknown, operation: OperationRecord) => void = () => undefined) {
    this.clock = clock;
    this.onError = onError;
  }

  /** Starts an operation; `complete` runs after `durationMs` (at once for 0). */
  start(input: StartOperation): OperationRecord {
    const now = this.clock.now();
    const durationMs = Math.max(0, input.durationMs);
    const operation: OperationRecord = {
      id: randomUUID(),
      kind: input.kind,
      subscriptionId: input.subscriptionId,
      location: input.location.replaceAll(' ', '').toLowerCase(),
      resourceId: input.resourceId,
      startTime: now,
      dueTime: now + durationMs,
      status: 'InProgress',
      polls: 0,
      pollsInProgress: 0,
    };
    this.operations.set(operation.id, operation);
    const cancel = this.clock.setTimer(durationMs, () => {
      this.finish(operation);
    });
    this.pending.set(operation.id, { complete: input.complete, cancel });
    this.prune();
    return operation;
  }

  /** The operation by ID (case-insensitive GUID), settled if due. */
  get(id: string): OperationRecord | undefined {
    this.settleDue();
    return this.operations.get(id.toLowerCase());
  }

  /** The operation still running on `resourceId` (case-insensitive), if any. */
  runningOn(resourceId: string): OperationRecord | undefined {
    this.settleDue();
    const wanted = resourceId.toLowerCase();
    for (const id of this.pending.keys()) {
      const operation = this.operations.get(id);
      if (operation !== undefined && operation.resourceId.toLowerCase() === wanted) return operation;
    }
    return undefined;
  }

  /** Milliseconds until `operation` is due (0 when finished or overdue). */
  remainingMs(operation: OperationRecord): number {
    return operation.status === 'InProgress' ? Math.max(0, operation.dueTime - this.clock.now()) : 0;
  }

  /** Finishes every operation whose time has come. */
  settleDue(): void {
    const now = this.clock.now();
    for (const id of [...this.pending.keys()]) {
      const operation = this.operations.get(id);
      if (operation !== undefined && operation.dueTime <= now) this.finish(operation);
    }
  }

  /** Cancels every timer (server shutdown); running operations stay `InProgress`. */
  close(): void {
    for (const { cancel } of this.pending.values()) cancel();
    this.pending.clear();
  }

  private finish(operation: OperationRecord): void {
    const entry = this.pending.get(operation.id);
    if (entry === undefined) return;
    this.pending.delete(operation.id);
    entry.cancel();
    let error: ArmError | undefined;
    try {
      error = entry.complete();
    } catch (thrown) {
      this.onError(thrown, operation);
      error = internalExecutionError();
    }
    operation.endTime = this.clock.now();
    operation.status = error === undefined ? 'Succeeded' : 'Failed';
    if (error !== undefined) operation.error = error;
  }

  private prune(): void {
    if (this.operations.size <= KEEP_FINISHED + this.pending.size) return;
    for (const [id, operation] of this.operations) {
      if (operation.status === 'InProgress') continue;
      this.operations.delete(id);
      if (this.operations.size <= KEEP_FINISHED + this.pending.size) return;
    }
  }
}
