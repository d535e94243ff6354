/**
 * ARM's `x-ms-ratelimit-remaining-*` response headers (azure-protocols.md §3.6): decrementing
 * counters per subscription (or tenant, for calls outside a subscription) and kind, reset every hour
 * as the legacy limits were (reads 12 000, writes 1 200, deletes 15 000). Informational only: the
 * simulator never throttles on its own (429s come from fault injection).
 * @module
 */
import type { Clock } from '../../lib/clock.ts';
import type { ArmRoute } from './paths.ts';

export type RequestKind = 'reads' | 'writes' | 'deletes';

const LIMITS: Readonly<Record<RequestKind, number>> = { reads: 12_000, writes: 1_200, deletes: 15_000 };
const WINDOW_MS = 3_600_000;

export function requestKind(method: string): RequestKind {
  if (method === 'DELETE') return 'deletes';
  return method === 'GET' || method === 'HEAD' ? 'reads' : 'writes';
}

/** The subscription a route belongs to, if any. */
export function subscriptionOf(route: ArmRoute | undefined): string | undefined {
  if (route === undefined) return undefined;
  if ('subscriptionId' in route) return route.subscriptionId;
  if ('scope' in route) return /^\/subscriptions\/([^/]+)/i.exec(route.scope)?.[1];
  return undefined;
}

export class RateLimitCounters {
  private readonly clock: Clock;
  private readonly used = new Map<string, { windowStart: number; count: number }>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Counts one request and returns the header to send. */
  take(route: ArmRoute | undefined, method: string): Record<string, string> {
    const kind = requestKind(method);
    const subscriptionId = subscriptionOf(route);
    const scope = subscriptionId === undefined ? 'tenant' : 'subscription';
    const key = `${scope}:${(subscriptionId ?? '').toLowerCase()}:${kind}`;
    const now = this.clock.now();
    let entry = this.used.get(key);
    if (entry === undefined || now - entry.windowStart >= WINDOW_MS) {
      entry = { windowStart: now, count: 0 };
      this.used.set(key, entry);
    }
    entry.count++;
    return { [`x-ms-ratelimit-remaining-${scope}-${kind}`]: String(Math.max(0, LIMITS[kind] - entry.count)) };
  }
}
