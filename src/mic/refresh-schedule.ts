/**
 * When MIC recomputes its view after an informer event. A recompute is O(pods) (view.ts), so it is
 * not run for every event of a burst; but a fixed debounce window made every lone pod wait for it
 * (~100 ms of the ~110 ms from pod to Assigned when its identity was already on the VMSS), and MIC's
 * own AAI writes reopened the window for the next pod. Instead the delay is paid for by what the last
 * recompute cost: after a refresh that took `c` ms the next one waits until `REFRESH_COST_FACTOR × c`
 * ms after it ran, so recomputes use at most 1 / REFRESH_COST_FACTOR of a core however fast events
 * arrive, and never wait longer than `debounceMs`. A small cluster's refresh takes well under a
 * millisecond: events are handled on the next turn of the event loop (the rest of the same watch
 * chunk is still seen together). A burst on a large cluster is coalesced as before; a target busy with
 * an ARM write collects what arrives meanwhile for its next one.
 * @module
 */

/** A refresh is followed by a pause of this many times its cost (recomputes ≤ 20 % of a core). */
export const REFRESH_COST_FACTOR = 4;

export interface LastRefresh {
  /** When it ended (the controller's clock). */
  readonly at: number;
  /** How long it took, in milliseconds. */
  readonly costMs: number;
}

/** Milliseconds from `now` until the next refresh may run. */
export function refreshDelayMs(last: LastRefresh | undefined, now: number, debounceMs: number): number {
  if (last === undefined) return 0;
  const pause = Math.min(debounceMs, REFRESH_COST_FACTOR * last.costMs);
  return Math.max(0, Math.ceil(last.at + pause - now));
}
