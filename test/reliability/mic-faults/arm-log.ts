/**
 * Reading the simulator's ARM request log for the MIC fault suite: compute reads and writes, faulted
 * answers by kind, and calls sent inside a Retry-After window (ARM's read and write buckets apart,
 * as MIC's throttle gate keeps them).
 * @module
 */
import type { RequestLogEntry } from '../../../src/sim/http/request-log.ts';

const COMPUTE_RESOURCE = /microsoft\.compute\/(virtualmachines|virtualmachinescalesets)\/[^/]+$/i;

export const isComputeWrite = (entry: RequestLogEntry): boolean => (entry.method === 'PATCH' || entry.method === 'PUT') && COMPUTE_RESOURCE.test(entry.path);
export const isComputeRead = (entry: RequestLogEntry): boolean => entry.method === 'GET' && COMPUTE_RESOURCE.test(entry.path);
export const isPoll = (entry: RequestLogEntry): boolean => entry.method === 'GET' && /\/operations\//i.test(entry.path);

/**
 * Faulted answers by kind (`429`, `500`, `hang`, `drop`, …) plus what the faults cause in the
 * simulator itself: 409 conflicts and 400s refusing a deleted identity.
 */
export function faultedByKind(entries: readonly RequestLogEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entry of entries) {
    const caused = entry.status === 409 || (entry.status === 400 && isComputeWrite(entry)) ? String(entry.status) : undefined;
    const kind = entry.fault === undefined ? caused : entry.fault.kind === 'status' ? String(entry.fault.status ?? entry.status) : entry.fault.kind;
    if (kind !== undefined) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

/** Slack for a request MIC sent while the 429 was on its way back (the log times arrivals). */
const IN_FLIGHT_SLACK_MS = 25;

/**
 * Compute calls that arrived inside the Retry-After window of an earlier 429 of the same kind: from
 * the moment the 429 was sent (arrival + duration, plus a little slack for a request already on the
 * wire) until its arrival + Retry-After. `retryAfterMs` maps a fault rule ID to its Retry-After.
 */
export function retryAfterBreaches(entries: readonly RequestLogEntry[], retryAfterMs: ReadonlyMap<string, number>): { writes: string[]; reads: string[]; polls: number; minGapMs: number | undefined } {
  const writes: string[] = [];
  const reads: string[] = [];
  let polls = 0;
  let minGapMs: number | undefined;
  const at = (entry: RequestLogEntry): number => Date.parse(entry.time);
  for (const denial of entries) {
    if (denial.status !== 429 || denial.fault === undefined) continue;
    const window = retryAfterMs.get(denial.fault.ruleId);
    if (window === undefined) continue;
    const write = isComputeWrite(denial);
    const opensAt = at(denial) + denial.durationMs + IN_FLIGHT_SLACK_MS;
    const closesAt = at(denial) + window;
    const sameKind = entries.filter((entry) => entry.seq !== denial.seq && (write ? isComputeWrite(entry) : isComputeRead(entry) || isPoll(entry)));
    const next = sameKind.find((entry) => at(entry) >= opensAt);
    if (write && next !== undefined) minGapMs = Math.min(minGapMs ?? Number.POSITIVE_INFINITY, at(next) - at(denial));
    for (const entry of sameKind) {
      const time = at(entry);
      if (time < opensAt || time >= closesAt) continue;
      const text = `${entry.method} ${entry.path.split('/').at(-1) ?? ''} at ${entry.time} (status ${entry.status}) inside the ${window} ms Retry-After of the 429 to ${denial.method} ${denial.path.split('/').at(-1) ?? ''} at ${denial.time} (answered after ${denial.durationMs} ms)`;
      if (write) writes.push(text);
      else if (isPoll(entry)) polls++;
      else reads.push(text);
    }
  }
  return { writes, reads, polls, minGapMs };
}

/** Total, compute writes and reads, operation polls, and writes by status. */
export function armSummary(entries: readonly RequestLogEntry[]): { calls: number; writes: number; reads: number; polls: number; writesOk: number } {
  const writes = entries.filter(isComputeWrite);
  return {
    calls: entries.length,
    writes: writes.length,
    reads: entries.filter(isComputeRead).length,
    polls: entries.filter(isPoll).length,
    writesOk: writes.filter((entry) => entry.status >= 200 && entry.status < 300).length,
  };
}
