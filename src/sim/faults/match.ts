/**
 * Pure fault-rule logic: validating a rule a test sent, and choosing the rule a request meets.
 * @module
 */
import { serviceMatches } from '../http/service.ts';
import type { FaultAction, FaultRule, FaultRuleInput } from './types.ts';

/** What a rule is matched against. */
export interface FaultRequest {
  readonly service: string;
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  /** Raw query string without `?` ('' when none). */
  readonly query: string;
}

/** A rule that cannot be accepted; `problems` lists every reason. */
export class InvalidFaultRuleError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid fault rule: ${problems.join('; ')}`);
    this.name = 'InvalidFaultRuleError';
    this.problems = problems;
  }
}

/** Upper bound for latency/hang, so a typo cannot wedge a test run for hours. */
export const MAX_FAULT_DELAY_MS = 600_000;

const regexCache = new Map<string, RegExp>();

function compile(source: string): RegExp {
  let regex = regexCache.get(source);
  if (regex === undefined) {
    regex = new RegExp(source, 'i');
    if (regexCache.size > 1_000) regexCache.clear(); // rules are few; bound the cache anyway
    regexCache.set(source, regex);
  }
  return regex;
}

/**
 * Whether `rule` applies to `request`, ignoring how often it may still fire. Rules without a service
 * never touch the admin API (a catch-all `drop` must not cut the test off from removing it); name
 * `admin` explicitly to fault it.
 */
export function ruleMatches(rule: FaultRuleInput, request: FaultRequest): boolean {
  if (rule.service === undefined ? request.service === 'admin' : !serviceMatches(rule.service, request.service)) return false;
  if (rule.method !== undefined && rule.method.toUpperCase() !== request.method.toUpperCase()) return false;
  if (rule.path !== undefined && !compile(rule.path).test(request.path)) return false;
  if (rule.query !== undefined && !compile(rule.query).test(request.query)) return false;
  return true;
}

/** The first rule, in order, that matches and is not exhausted. */
export function selectFault(rules: readonly FaultRule[], request: FaultRequest): FaultRule | undefined {
  return rules.find((rule) => rule.remaining !== 0 && ruleMatches(rule, request));
}

/** Counts one application of `rule` (mutates it). */
export function consume(rule: FaultRule): void {
  rule.hits += 1;
  if (rule.remaining !== null) rule.remaining = Math.max(0, rule.remaining - 1);
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function optionalString(input: Record<string, unknown>, name: string, problems: string[]): string | undefined {
  const value = input[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    problems.push(`${name} must be a non-empty string`);
    return undefined;
  }
  return value;
}

function optionalRegex(input: Record<string, unknown>, name: string, problems: string[]): string | undefined {
  const source = optionalString(input, name, problems);
  if (source === undefined) return undefined;
  try {
    compile(source);
  } catch (error) {
    problems.push(`${name} is not a valid regular expression: ${(error as Error).message}`);
  }
  return source;
}

function delay(action: Record<string, unknown>, problems: string[]): number {
  const ms = action['ms'];
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_FAULT_DELAY_MS) {
    problems.push(`action.ms must be a number of milliseconds between 0 and ${MAX_FAULT_DELAY_MS}`);
    return 0;
  }
  return ms;
}

function parseAction(value: unknown, problems: string[]): FaultAction | undefined {
  if (!isRecord(value)) {
    problems.push('action must be an object with a kind: latency | status | drop | hang | delete-identity');
    return undefined;
  }
  switch (value['kind']) {
    case 'latency':
      return { kind: 'latency', ms: delay(value, problems) };
    case 'hang':
      return { kind: 'hang', ms: delay(value, problems) };
    case 'drop':
      return { kind: 'drop' };
    case 'delete-identity': {
      const identityId = optionalString(value, 'identityId', problems);
      if (identityId === undefined) {
        if (value['identityId'] === undefined) problems.push('action.identityId is required for delete-identity');
        return undefined;
      }
      return { kind: 'delete-identity', identityId };
    }
    case 'status': {
      const status = value['status'];
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
        problems.push('action.status must be an integer HTTP error status (400-599)');
        return undefined;
      }
      const retryAfter = value['retryAfterSeconds'];
      if (retryAfter !== undefined && (typeof retryAfter !== 'number' || !Number.isInteger(retryAfter) || retryAfter < 0)) {
        problems.push('action.retryAfterSeconds must be a non-negative integer');
      }
      const code = optionalString(value, 'code', problems);
      const message = optionalString(value, 'message', problems);
      return {
        kind: 'status',
        status,
        ...(typeof retryAfter === 'number' ? { retryAfterSeconds: retryAfter } : {}),
        ...(code !== undefined ? { code } : {}),
        ...(message !== undefined ? { message } : {}),
        ...(value['body'] !== undefined ? { body: value['body'] } : {}),
      };
    }
    default:
      problems.push(`action.kind must be one of latency, status, drop, hang, delete-identity (got ${JSON.stringify(value['kind'])})`);
      return undefined;
  }
}

const KNOWN_FIELDS = new Set(['id', 'service', 'method', 'path', 'query', 'times', 'action']);

/** Checks untrusted input (admin API body) and returns a typed rule; throws {@link InvalidFaultRuleError}. */
export function parseFaultRule(input: unknown): FaultRuleInput {
  if (!isRecord(input)) throw new InvalidFaultRuleError(['a fault rule must be a JSON object']);
  const problems: string[] = [];
  for (const name of Object.keys(input)) if (!KNOWN_FIELDS.has(name)) problems.push(`unknown field ${JSON.stringify(name)}`);
  const id = optionalString(input, 'id', problems);
  const service = optionalString(input, 'service', problems);
  if (service !== undefined && !/^(arm|entra|admin|imds(:.+)?)$/i.test(service)) {
    problems.push(`service must be arm, entra, admin, imds or imds:<node> (got ${JSON.stringify(service)})`);
  }
  const method = optionalString(input, 'method', problems);
  const path = optionalRegex(input, 'path', problems);
  const query = optionalRegex(input, 'query', problems);
  const times = input['times'];
  if (times !== undefined && (typeof times !== 'number' || !Number.isInteger(times) || times < 1)) {
    problems.push('times must be a positive integer (omit it for unlimited)');
  }
  const action = parseAction(input['action'], problems);
  if (problems.length > 0 || action === undefined) throw new InvalidFaultRuleError(problems);
  return {
    ...(id !== undefined ? { id } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(method !== undefined ? { method: method.toUpperCase() } : {}),
    ...(path !== undefined ? { path } : {}),
    ...(query !== undefined ? { query } : {}),
    ...(typeof times === 'number' ? { times } : {}),
    action,
  };
}
