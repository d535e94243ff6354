import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from '../../../src/lib/backoff.ts';

describe('backoffDelay', () => {
  const policy = { baseMs: 1000, maxMs: 60_000, jitter: 0 };

  it.each([
    [0, 0],
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [6, 32_000],
    [7, 60_000],
    [100, 60_000],
  ])('after %i failures waits %i ms without jitter', (failures, expected) => {
    expect(backoffDelay(policy, failures)).toBe(expected);
  });

  it('jitter only shortens the delay, by at most its fraction', () => {
    const jittered = { ...policy, jitter: 0.5 };
    expect(backoffDelay(jittered, 3, () => 0)).toBe(4000);
    expect(backoffDelay(jittered, 3, () => 0.999_999)).toBe(2000);
    expect(backoffDelay(jittered, 3, () => 0.5)).toBe(3000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-22T12:00:00Z');
  it.each([
    ['20', 20_000],
    [' 3 ', 3000],
    ['0.5', 500],
    ['Sun, 22 Nov 2026 12:00:30 GMT', 30_000],
    ['Sun, 22 Nov 2026 11:00:00 GMT', 0],
  ])('%j → %i ms', (header, expected) => {
    expect(parseRetryAfter(header, now)).toBe(expected);
  });

  it.each([[undefined], [null], ['soon'], ['']])('%j is unusable', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });
});
