import { describe, expect, it } from 'vitest';
import { parseGoDuration } from '../../../src/lib/go-duration.ts';

describe('parseGoDuration (time.ParseDuration)', () => {
  it.each([
    ['0', 0],
    ['0s', 0],
    ['-0', 0],
    ['15s', 15_000],
    ['3m', 180_000],
    ['1h30m', 5_400_000],
    ['3600s', 3_600_000],
    ['1.5h', 5_400_000],
    ['.5s', 500],
    ['1.s', 1_000],
    ['100ms', 100],
    ['1us', 0.001],
    ['1µs', 0.001],
    ['1μs', 0.001],
    ['1500ns', 0.0015],
    ['1.1s', 1_100],
    ['-2m', -120_000],
    ['+2m', 120_000],
    ['1h2m3s4ms', 3_723_004],
    ['2562047h', 9_223_369_200_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  it.each(['', '10', 's', '1x', '1 s', '1s ', '.s', '1..5s', '-', '1h-2m', '3000000h', 'ms'])('rejects %j', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });
});
