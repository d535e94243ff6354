/**
 * Reading the request-log filter from admin query strings (`GET /requests?service=imds&since=42`).
 * @module
 */
import { InvalidInputError } from './fields.ts';
import type { RequestLogFilter } from '../http/request-log.ts';

const KNOWN = ['service', 'node', 'method', 'path', 'pathRegex', 'status', 'since', 'faulted', 'limit', 'timeoutMs'];

function integer(query: Record<string, string | undefined>, name: string, min: number, max: number, problems: string[]): number | undefined {
  const raw = query[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw === '' || !Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name}: must be an integer from ${min} to ${max}`);
    return undefined;
  }
  return value;
}

/** The filter and, for `/requests/wait`, the timeout; throws InvalidInputError. */
export function parseRequestQuery(query: Record<string, string | undefined>): { filter: RequestLogFilter; timeoutMs: number | undefined } {
  const problems: string[] = [];
  for (const name of Object.keys(query)) if (!KNOWN.includes(name)) problems.push(`${name}: unknown filter (known: ${KNOWN.join(', ')})`);
  const pathRegex = query['pathRegex'];
  if (pathRegex !== undefined) {
    try {
      new RegExp(pathRegex, 'i');
    } catch (error) {
      problems.push(`pathRegex: not a valid regular expression: ${(error as Error).message}`);
    }
  }
  const faulted = query['faulted'];
  if (faulted !== undefined && faulted !== 'true' && faulted !== 'false') problems.push('faulted: must be true or false');
  const status = integer(query, 'status', 0, 599, problems);
  const sinceSeq = integer(query, 'since', 0, Number.MAX_SAFE_INTEGER, problems);
  const limit = integer(query, 'limit', 1, 1_000_000, problems);
  const timeoutMs = integer(query, 'timeoutMs', 0, 600_000, problems);
  if (problems.length > 0) throw new InvalidInputError('invalid request log query', problems);
  const text = (name: string): string | undefined => (query[name] === '' ? undefined : query[name]);
  const filter: RequestLogFilter = {
    service: text('service'),
    node: text('node'),
    method: text('method'),
    pathContains: text('path'),
    pathRegex: text('pathRegex'),
    status,
    sinceSeq,
    faulted: faulted === undefined ? undefined : faulted === 'true',
    limit,
  };
  return { filter, timeoutMs };
}
