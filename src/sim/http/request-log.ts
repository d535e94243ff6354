/**
 * The simulator's request log: a bounded ring of what each server was asked and what it answered,
 * for tests to assert on. It never holds bodies, secrets or tokens (see redact.ts); of the headers it
 * keeps only the User-Agent, so a test can tell which client asked.
 * @module
 */
import type { AppliedFault } from '../faults/types.ts';
import { serviceMatches } from './service.ts';

export interface RequestLogEntry {
  /** 1, 2, 3, … in the order requests completed; never reused, also across `clear()`. */
  readonly seq: number;
  /** ISO-8601 time the request arrived. */
  readonly time: string;
  readonly service: string;
  /** Node name for `imds:<node>` services. */
  readonly node?: string;
  readonly method: string;
  /** URL path, redacted. */
  readonly path: string;
  /** Query parameters, redacted. */
  readonly query: Readonly<Record<string, string>>;
  /** HTTP status sent; 0 when the connection was dropped or aborted without a response. */
  readonly status: number;
  readonly durationMs: number;
  readonly clientAddress: string;
  /** The request's User-Agent header, when it sent one. */
  readonly userAgent?: string;
  readonly fault?: AppliedFault;
}

export type NewRequestLogEntry = Omit<RequestLogEntry, 'seq'>;

/** Filters of {@link RequestLog.query}; all given ones must hold. */
export interface RequestLogFilter {
  /** `arm`, `entra`, `admin`, `imds:<node>`, or `imds` for every node. */
  readonly service?: string;
  readonly node?: string;
  /** Case-insensitive. */
  readonly method?: string;
  /** Substring of the path, case-insensitive. */
  readonly pathContains?: string;
  /** Regular expression on the path (a string is compiled case-insensitively). */
  readonly pathRegex?: string | RegExp;
  readonly status?: number;
  /** Only entries with `seq` greater than this. */
  readonly sinceSeq?: number;
  /** Only entries with a fault (true) or without (false). */
  readonly faulted?: boolean;
  /** At most this many, the most recent ones. */
  readonly limit?: number;
}

export const DEFAULT_REQUEST_LOG_CAPACITY = 10_000;

/** Builds a predicate from a filter; throws on an invalid regular expression. */
export function requestLogPredicate(filter: RequestLogFilter): (entry: RequestLogEntry) => boolean {
  const regex = typeof filter.pathRegex === 'string' ? new RegExp(filter.pathRegex, 'i') : filter.pathRegex;
  const contains = filter.pathContains?.toLowerCase();
  const method = filter.method?.toUpperCase();
  return (entry) =>
    (filter.service === undefined || serviceMatches(filter.service, entry.service)) &&
    (filter.node === undefined || entry.node?.toLowerCase() === filter.node.toLowerCase()) &&
    (method === undefined || entry.method === method) &&
    (contains === undefined || entry.path.toLowerCase().includes(contains)) &&
    (regex === undefined || regex.test(entry.path)) &&
    (filter.status === undefined || entry.status === filter.status) &&
    (filter.sinceSeq === undefined || entry.seq > filter.sinceSeq) &&
    (filter.faulted === undefined || (entry.fault !== undefined) === filter.faulted);
}

interface Waiter {
  readonly predicate: (entry: RequestLogEntry) => boolean;
  readonly resolve: (entry: RequestLogEntry) => void;
}

export class RequestLog {
  readonly capacity: number;
  private readonly ring: (RequestLogEntry | undefined)[];
  /** Index the next entry goes to. */
  private next = 0;
  private count = 0;
  private seq = 0;
  private readonly waiters = new Set<Waiter>();

  constructor(capacity: number = DEFAULT_REQUEST_LOG_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`request log: capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.ring = new Array<RequestLogEntry | undefined>(capacity);
  }

  /** Appends an entry (the oldest is dropped when full) and wakes matching waiters. */
  record(entry: NewRequestLogEntry): RequestLogEntry {
    const stored: RequestLogEntry = Object.freeze({ seq: ++this.seq, ...entry });
    this.ring[this.next] = stored;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    for (const waiter of this.waiters) {
      if (waiter.predicate(stored)) {
        this.waiters.delete(waiter);
        waiter.resolve(stored);
      }
    }
    return stored;
  }

  /** Entries held now. */
  get size(): number {
    return this.count;
  }

  /** The `seq` of the latest entry ever recorded (0 if none): pass it as `sinceSeq` to see only newer ones. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Entries oldest first. */
  entries(): RequestLogEntry[] {
    const out: RequestLogEntry[] = [];
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) {
      const entry = this.ring[(start + i) % this.capacity];
      if (entry !== undefined) out.push(entry);
    }
    return out;
  }

  /** Matching entries, oldest first. */
  query(filter: RequestLogFilter = {}): RequestLogEntry[] {
    const matching = this.entries().filter(requestLogPredicate(filter));
    return filter.limit === undefined ? matching : matching.slice(Math.max(0, matching.length - filter.limit));
  }

  /** Forgets every entry (sequence numbers keep counting). */
  clear(): void {
    this.ring.fill(undefined);
    this.next = 0;
    this.count = 0;
  }

  /**
   * The first entry, already held or yet to come, that satisfies `predicate`. Rejects after
   * `timeoutMs` with an error saying so (or when `signal` aborts).
   */
  waitFor(predicate: (entry: RequestLogEntry) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<RequestLogEntry> {
    const held = this.entries().find(predicate);
    if (held !== undefined) return Promise.resolve(held);
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        predicate,
        resolve: (entry) => {
          finish();
          resolve(entry);
        },
      };
      const onAbort = (): void => {
        finish();
        reject(new Error('request log: wait aborted', { cause: signal?.reason }));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`request log: no matching request within ${timeoutMs} ms`));
      }, timeoutMs);
      if (signal?.aborted === true) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }
}
