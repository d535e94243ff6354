import type { PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { isTransientResponse, transientRetryPolicy } from '../../../src/azure/transient-retry-policy.ts';
import { ManualClock } from '../../support/manual-clock.ts';

const OPTIONS = { maxRetries: 2, baseDelayMs: 1_000, maxDelayMs: 8_000 };
const noJitter = (): number => 0;

function response(request: PipelineRequest, status: number, headers: Record<string, string> = {}): PipelineResponse {
  return { request, status, headers: createHttpHeaders(headers) };
}

/** Sends through the policy with `answers` in order (a number = status; an Error = thrown); returns the outcome and attempts. */
function run(answers: (number | Error | { status: number; headers: Record<string, string> })[], clock: ManualClock, signal?: AbortSignal) {
  const request = createPipelineRequest({ url: 'https://arm.test/x', method: 'PATCH', ...(signal !== undefined ? { abortSignal: signal } : {}) });
  let attempts = 0;
  const outcome = transientRetryPolicy(OPTIONS, clock, noJitter).sendRequest(request, (sent) => {
    const answer = answers[Math.min(attempts, answers.length - 1)];
    attempts++;
    if (answer instanceof Error) return Promise.reject(answer);
    if (typeof answer === 'number') return Promise.resolve(response(sent, answer));
    return Promise.resolve(response(sent, answer?.status ?? 500, answer?.headers));
  });
  return { outcome, attempts: () => attempts };
}

describe('transientRetryPolicy', () => {
  it('retries 5xx with exponential delays on the clock, at most maxRetries times', async () => {
    const clock = new ManualClock();
    const { outcome, attempts } = run([500, 502, 500], clock);
    await clock.advance(0);
    expect(attempts()).toBe(1);
    await clock.advance(999);
    expect(attempts()).toBe(1);
    await clock.advance(1);
    expect(attempts()).toBe(2);
    await clock.advance(2_000);
    expect(attempts()).toBe(3);
    expect((await outcome).status).toBe(500);
    expect(clock.pendingTimers).toBe(0);
  });

  it('returns the first non-transient answer', async () => {
    const clock = new ManualClock();
    const { outcome, attempts } = run([503, 200], clock);
    await clock.advance(0);
    await clock.advance(1_000);
    expect((await outcome).status).toBe(200);
    expect(attempts()).toBe(2);
  });

  it.each([[429], [{ status: 503, headers: { 'retry-after': '5' } }], [{ status: 429, headers: { 'retry-after': '0' } }], [409], [400], [404], [501]])('does not retry %j', async (answer) => {
    const clock = new ManualClock();
    const { outcome, attempts } = run([answer], clock);
    await outcome;
    expect(attempts()).toBe(1);
  });

  it('retries connection errors, then throws the last one', async () => {
    const clock = new ManualClock();
    const reset = new RestError('socket hang up', { code: 'ECONNRESET' });
    const { outcome, attempts } = run([reset], clock);
    const settled = outcome.catch((error: unknown) => error);
    await clock.advance(0);
    await clock.advance(1_000);
    await clock.advance(2_000);
    expect(await settled).toBe(reset);
    expect(attempts()).toBe(3);
  });

  it('does not retry other errors, and stops waiting when the request is aborted', async () => {
    const clock = new ManualClock();
    const bug = new TypeError('bad');
    const { outcome, attempts } = run([bug], clock);
    await expect(outcome).rejects.toBe(bug);
    expect(attempts()).toBe(1);

    const controller = new AbortController();
    const waiting = run([500], new ManualClock(), controller.signal);
    const settled = waiting.outcome.catch((error: unknown) => error);
    await Promise.resolve();
    controller.abort();
    expect(await settled).toMatchObject({ name: 'AbortError' });
    expect(waiting.attempts()).toBe(1);
  });

  it.each([
    [408, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [501, false],
    [505, false],
    [429, false],
    [200, false],
  ])('status %i transient: %s', (status, transient) => {
    const request = createPipelineRequest({ url: 'https://arm.test/x' });
    expect(isTransientResponse(response(request, status))).toBe(transient);
  });
});
