/**
 * Records core/v1 Events where operators look (`kubectl describe`, `kubectl get events`), as
 * client-go's recorder does: repeats of the same (object, type, reason, message) within the
 * aggregation window bump `count` and `lastTimestamp` on one Event instead of creating new ones, and a
 * per-object budget keeps a failing loop from flooding the API server. Recording never throws:
 * events are best effort.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { KubeTarget } from './access.ts';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../lib/clock.ts';
import { describeError } from '../lib/errors.ts';
import { rawRequest } from './raw-client.ts';

/** The object an event is about. */
export interface EventTarget {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  readonly kubeConfig: KubeTarget;
  /** `source.component`, e.g. `aadpodidentity.k8s.io` (upstream's). */
  readonly component: string;
  /** `source.host` and `reportingInstance`. */
  readonly instance: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Repeats within this window update one Event (default 10 min, as client-go). */
  readonly aggregationWindowMs?: number;
  /** At most this many Event writes per object per minute (default 25). */
  readonly perObjectPerMinute?: number;
}

interface Recorded {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  lastAt: number;
}

export class EventRecorder {
  private readonly options: EventRecorderOptions;
  private readonly clock: Clock;
  private readonly recent = new Map<string, Recorded>();
  private readonly budget = new Map<string, { windowStart: number; writes: number }>();

  constructor(options: EventRecorderOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  /** Records an event; resolves when written (or dropped). Never rejects. */
  async record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.clock.now();
    const objectKey = `${target.kind}/${target.namespace}/${target.name}`;
    if (!this.withinBudget(objectKey, now)) {
      this.options.logger.debug({ object: objectKey, reason }, 'event dropped: per-object budget exhausted');
      return;
    }
    const key = `${objectKey}\u0000${target.uid ?? ''}\u0000${type}\u0000${reason}\u0000${message}`;
    const windowMs = this.options.aggregationWindowMs ?? 10 * 60_000;
    const previous = this.recent.get(key);
    const timestamp = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    try {
      if (previous !== undefined && now - previous.lastAt < windowMs) {
        previous.count++;
        previous.lastAt = now;
        await rawRequest(this.options.kubeConfig, {
          method: 'PATCH',
          path: `/api/v1/namespaces/${previous.namespace}/events/${previous.name}`,
          contentType: 'application/merge-patch+json',
          body: { count: previous.count, lastTimestamp: timestamp },
        });
        return;
      }
      const name = `${target.name}.${randomBytes(8).toString('hex')}`.slice(-253).replace(/^[.-]+/, '');
      await rawRequest(this.options.kubeConfig, {
        method: 'POST',
        path: `/api/v1/namespaces/${target.namespace}/events`,
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name, namespace: target.namespace },
          involvedObject: {
            apiVersion: target.apiVersion,
            kind: target.kind,
            namespace: target.namespace,
            name: target.name,
            ...(target.uid === undefined ? {} : { uid: target.uid }),
            ...(target.resourceVersion === undefined ? {} : { resourceVersion: target.resourceVersion }),
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: this.options.component, host: this.options.instance },
          reportingComponent: this.options.component,
          reportingInstance: this.options.instance,
          firstTimestamp: timestamp,
          lastTimestamp: timestamp,
          count: 1,
        },
      });
      this.recent.set(key, { name, namespace: target.namespace, count: 1, firstTimestamp: timestamp, lastAt: now });
      this.prune(now, windowMs);
    } catch (error) {
      // A deleted namespace or a lost Event must never fail the caller's work.
      this.recent.delete(key);
      this.options.logger.warn({ object: objectKey, reason, err: describeError(error) }, 'could not record event');
    }
  }

  private withinBudget(objectKey: string, now: number): boolean {
    const limit = this.options.perObjectPerMinute ?? 25;
    const entry = this.budget.get(objectKey);
    if (entry === undefined || now - entry.windowStart >= 60_000) {
      this.budget.set(objectKey, { windowStart: now, writes: 1 });
      return true;
    }
    if (entry.writes >= limit) return false;
    entry.writes++;
    return true;
  }

  /** Bounds memory: forget aggregation state older than the window. */
  private prune(now: number, windowMs: number): void {
    if (this.recent.size < 4096) return;
    for (const [key, recorded] of this.recent) if (now - recorded.lastAt >= windowMs) this.recent.delete(key);
    for (const [key, entry] of this.budget) if (now - entry.windowStart >= 60_000) this.budget.delete(key);
  }
}
