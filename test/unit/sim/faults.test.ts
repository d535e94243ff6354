import { describe, expect, it } from 'vitest';
import { FaultInjector } from '../../../src/sim/faults/injector.ts';
import { InvalidFaultRuleError, parseFaultRule, ruleMatches, selectFault, type FaultRequest } from '../../../src/sim/faults/match.ts';
import { faultResponse } from '../../../src/sim/faults/responses.ts';
import type { FaultRule, FaultRuleInput } from '../../../src/sim/faults/types.ts';

const armPatch: FaultRequest = {
  service: 'arm',
  method: 'PATCH',
  path: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-1-vmss',
  query: 'api-version=2026-04-01',
};
const imdsToken: FaultRequest = { service: 'imds:aks-pool-1-vmss000000', method: 'GET', path: '/metadata/identity/oauth2/token/', query: 'resource=x&client_id=abc' };
const adminState: FaultRequest = { service: 'admin', method: 'GET', path: '/state', query: '' };

const stored = (input: FaultRuleInput, id: string): FaultRule => ({ ...input, id, remaining: input.times ?? null, hits: 0 });

function problemsOf(input: unknown): readonly string[] {
  try {
    parseFaultRule(input);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidFaultRuleError);
    return (error as InvalidFaultRuleError).problems;
  }
  throw new Error('expected the rule to be refused');
}

describe('parseFaultRule', () => {
  it('accepts every action kind and normalises the method', () => {
    expect(parseFaultRule({ service: 'arm', method: 'patch', path: 'virtualMachineScaleSets', action: { kind: 'latency', ms: 250 } })).toEqual({
      service: 'arm',
      method: 'PATCH',
      path: 'virtualMachineScaleSets',
      action: { kind: 'latency', ms: 250 },
    });
    expect(parseFaultRule({ action: { kind: 'status', status: 429, retryAfterSeconds: 3 }, times: 2 })).toEqual({ times: 2, action: { kind: 'status', status: 429, retryAfterSeconds: 3 } });
    expect(parseFaultRule({ action: { kind: 'drop' } }).action).toEqual({ kind: 'drop' });
    expect(parseFaultRule({ action: { kind: 'hang', ms: 10 } }).action).toEqual({ kind: 'hang', ms: 10 });
    expect(parseFaultRule({ action: { kind: 'delete-identity', identityId: '/subscriptions/s/x' } }).action).toEqual({ kind: 'delete-identity', identityId: '/subscriptions/s/x' });
  });

  it('lists every problem of a bad rule', () => {
    const problems = problemsOf({ service: 'storage', path: '([', times: 0, colour: 'red', action: { kind: 'status', status: 200 } });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('unknown field "colour"'),
        expect.stringContaining('service must be arm, entra, admin, imds'),
        expect.stringContaining('path is not a valid regular expression'),
        expect.stringContaining('times must be a positive integer'),
        expect.stringContaining('action.status must be an integer HTTP error status'),
      ]),
    );
    expect(problemsOf({ action: { kind: 'explode' } })).toEqual([expect.stringContaining('action.kind must be one of')]);
    expect(problemsOf({ action: { kind: 'latency', ms: -1 } })).toEqual([expect.stringContaining('action.ms')]);
    expect(problemsOf({ action: { kind: 'delete-identity' } })).toEqual([expect.stringContaining('identityId is required')]);
    expect(problemsOf('drop everything')).toEqual(['a fault rule must be a JSON object']);
    expect(problemsOf({})).toEqual([expect.stringContaining('action must be an object')]);
  });
});

describe('ruleMatches', () => {
  const rule = (fields: Partial<FaultRuleInput>): FaultRuleInput => ({ action: { kind: 'drop' }, ...fields });

  it('matches services exactly, and `imds` covers every node', () => {
    expect(ruleMatches(rule({ service: 'arm' }), armPatch)).toBe(true);
    expect(ruleMatches(rule({ service: 'entra' }), armPatch)).toBe(false);
    expect(ruleMatches(rule({ service: 'imds' }), imdsToken)).toBe(true);
    expect(ruleMatches(rule({ service: 'imds:aks-pool-1-vmss000000' }), imdsToken)).toBe(true);
    expect(ruleMatches(rule({ service: 'imds:aks-pool-1-vmss000001' }), imdsToken)).toBe(false);
  });

  it('never touches the admin API unless a rule names it', () => {
    expect(ruleMatches(rule({}), adminState)).toBe(false);
    expect(ruleMatches(rule({ path: '.*' }), adminState)).toBe(false);
    expect(ruleMatches(rule({ service: 'admin' }), adminState)).toBe(true);
    expect(ruleMatches(rule({}), armPatch)).toBe(true);
  });

  it('compares methods case-insensitively and paths/queries as case-insensitive regular expressions', () => {
    expect(ruleMatches(rule({ method: 'patch' }), armPatch)).toBe(true);
    expect(ruleMatches(rule({ method: 'GET' }), armPatch)).toBe(false);
    expect(ruleMatches(rule({ path: 'VIRTUALMACHINESCALESETS/aks-' }), armPatch)).toBe(true);
    expect(ruleMatches(rule({ path: '/virtualMachines/' }), armPatch)).toBe(false);
    expect(ruleMatches(rule({ path: '^/metadata/identity/oauth2/token/?$' }), imdsToken)).toBe(true);
    // the path never includes the query
    expect(ruleMatches(rule({ path: 'api-version' }), armPatch)).toBe(false);
    expect(ruleMatches(rule({ query: 'client_id=ABC' }), imdsToken)).toBe(true);
    expect(ruleMatches(rule({ query: 'client_id=def' }), imdsToken)).toBe(false);
  });
});

describe('selectFault', () => {
  it('picks the first matching rule that is not exhausted', () => {
    const rules = [
      stored({ service: 'entra', action: { kind: 'drop' } }, 'entra-drop'),
      { ...stored({ service: 'arm', times: 1, action: { kind: 'status', status: 500 } }, 'spent'), remaining: 0 },
      stored({ service: 'arm', method: 'PATCH', action: { kind: 'status', status: 409 } }, 'conflict'),
      stored({ service: 'arm', action: { kind: 'status', status: 503 } }, 'later'),
    ];
    expect(selectFault(rules, armPatch)?.id).toBe('conflict');
    expect(selectFault(rules, { ...armPatch, method: 'GET' })?.id).toBe('later');
    expect(selectFault(rules, imdsToken)).toBeUndefined();
  });
});

describe('FaultInjector', () => {
  it('honours times, counts hits and keeps exhausted rules for inspection', () => {
    const faults = new FaultInjector();
    const rule = faults.add({ id: 'twice', service: 'arm', times: 2, action: { kind: 'status', status: 500 } });
    expect(rule).toMatchObject({ id: 'twice', remaining: 2, hits: 0 });
    expect(faults.take(armPatch)?.id).toBe('twice');
    expect(faults.take(armPatch)?.id).toBe('twice');
    expect(faults.take(armPatch)).toBeUndefined();
    expect(faults.list()).toEqual([expect.objectContaining({ id: 'twice', remaining: 0, hits: 2 })]);
  });

  it('applies unlimited rules forever, first added first', () => {
    const faults = new FaultInjector();
    const first = faults.add({ service: 'imds', action: { kind: 'latency', ms: 5 } });
    faults.add({ service: 'imds', action: { kind: 'drop' } });
    for (let i = 0; i < 5; i++) expect(faults.take(imdsToken)?.id).toBe(first.id);
    expect(faults.list()[0]).toMatchObject({ remaining: null, hits: 5 });
  });

  it('replaces a rule with the same id in place, removes and clears', () => {
    const faults = new FaultInjector();
    faults.add({ id: 'a', action: { kind: 'drop' } });
    faults.add({ id: 'b', action: { kind: 'drop' } });
    faults.add({ id: 'a', service: 'entra', action: { kind: 'status', status: 503 } });
    expect(faults.list().map((rule) => [rule.id, rule.action.kind])).toEqual([
      ['a', 'status'],
      ['b', 'drop'],
    ]);
    expect(faults.remove('a')).toBe(true);
    expect(faults.remove('a')).toBe(false);
    faults.clear();
    expect(faults.list()).toEqual([]);
    expect(faults.take(armPatch)).toBeUndefined();
  });

  it('refuses invalid rules without adding them', () => {
    const faults = new FaultInjector();
    expect(() => faults.add({ path: '(', action: { kind: 'drop' } })).toThrow(InvalidFaultRuleError);
    expect(faults.list()).toEqual([]);
  });

  it('hands out copies, so callers cannot change the live rules', () => {
    const faults = new FaultInjector();
    faults.add({ id: 'x', times: 1, action: { kind: 'drop' } });
    const listed = faults.list()[0];
    if (listed !== undefined) listed.remaining = 99;
    faults.take(armPatch);
    expect(faults.take(armPatch)).toBeUndefined();
  });
});

describe('faultResponse', () => {
  it('gives ARM 429s Retry-After, the rate-limit headers for the method and the ARM envelope', () => {
    const write = faultResponse('arm', 'PATCH', { kind: 'status', status: 429 });
    expect(write.status).toBe(429);
    expect(write.headers).toMatchObject({
      'retry-after': '1',
      'x-ms-ratelimit-remaining-subscription-writes': '0',
      'x-ms-ratelimit-remaining-subscription-global-writes': '0',
    });
    expect(write.body).toEqual({ error: { code: 'TooManyRequests', message: expect.stringContaining('throttled') as string } });
    const read = faultResponse('arm', 'GET', { kind: 'status', status: 429, retryAfterSeconds: 7 });
    expect(read.headers).toMatchObject({ 'retry-after': '7', 'x-ms-ratelimit-remaining-subscription-reads': '0' });
    expect(read.headers).not.toHaveProperty('x-ms-ratelimit-remaining-subscription-writes');
    expect(faultResponse('arm', 'DELETE', { kind: 'status', status: 429 }).headers).toHaveProperty('x-ms-ratelimit-remaining-subscription-deletes', '0');
  });

  it('uses ARM codes for other statuses and lets the rule override code, message and body', () => {
    expect(faultResponse('arm', 'PUT', { kind: 'status', status: 409 }).body).toMatchObject({ error: { code: 'OperationNotAllowed' } });
    expect(faultResponse('arm', 'PUT', { kind: 'status', status: 500 }).headers).not.toHaveProperty('retry-after');
    expect(faultResponse('arm', 'PUT', { kind: 'status', status: 409, code: 'AnotherOperationInProgress', message: 'busy' }).body).toEqual({
      error: { code: 'AnotherOperationInProgress', message: 'busy' },
    });
    expect(faultResponse('arm', 'PUT', { kind: 'status', status: 503, retryAfterSeconds: 2, body: { custom: true } })).toMatchObject({
      headers: { 'retry-after': '2' },
      body: { custom: true },
    });
  });

  it('answers Entra ID faults with an AADSTS body and IMDS faults with {error, error_description}', () => {
    const entra = faultResponse('entra', 'POST', { kind: 'status', status: 500 });
    expect(entra.body).toMatchObject({
      error: 'server_error',
      error_description: expect.stringMatching(/^AADSTS90033: .*\r\nTrace ID: .*\r\nCorrelation ID: .*\r\nTimestamp: /) as string,
      error_codes: [90033],
    });
    expect(faultResponse('entra', 'POST', { kind: 'status', status: 429 })).toMatchObject({ headers: { 'retry-after': '1' }, body: { error: 'temporarily_unavailable' } });
    const imds = faultResponse('imds:node-1', 'GET', { kind: 'status', status: 500 });
    expect(Object.keys(imds.body as object).sort()).toEqual(['error', 'error_description']);
    expect(imds.headers).not.toHaveProperty('x-ms-ratelimit-remaining-subscription-reads');
  });
});
