import { describe, expect, it } from 'vitest';
import { ThrottleGate } from '../../../src/azure/throttle-gate.ts';
import { ManualClock } from '../../support/manual-clock.ts';

const SUB = 'AAAAAAAA-0000-4000-8000-000000000000';

describe('ThrottleGate', () => {
  it('is open until closed, then closed for exactly Retry-After, per subscription and kind', async () => {
    const clock = new ManualClock();
    const gate = new ThrottleGate(clock);
    expect(gate.remainingMs(SUB, 'write')).toBe(0);
    gate.close(SUB, 'write', 2_000);
    expect(gate.remainingMs(SUB, 'write')).toBe(2_000);
    expect(gate.remainingMs(SUB.toLowerCase(), 'write')).toBe(2_000);
    expect(gate.remainingMs(SUB, 'read')).toBe(0);
    expect(gate.remainingMs('other', 'write')).toBe(0);
    await clock.advance(1_999);
    expect(gate.remainingMs(SUB, 'write')).toBe(1);
    await clock.advance(1);
    expect(gate.remainingMs(SUB, 'write')).toBe(0);
  });

  it('never shortens a window; zero or negative delays change nothing', async () => {
    const clock = new ManualClock();
    const gate = new ThrottleGate(clock);
    gate.close(SUB, 'read', 10_000);
    gate.close(SUB, 'read', 1_000);
    expect(gate.remainingMs(SUB, 'read')).toBe(10_000);
    await clock.advance(9_500);
    gate.close(SUB, 'read', 3_000);
    expect(gate.remainingMs(SUB, 'read')).toBe(3_000);
    gate.close(SUB, 'write', 0);
    gate.close(SUB, 'write', -5);
    gate.close(SUB, 'write', Number.NaN);
    expect(gate.remainingMs(SUB, 'write')).toBe(0);
  });
});
