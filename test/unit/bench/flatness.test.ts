import { describe, expect, it } from 'vitest';
import { flatness, median, slopeMbPerMinute } from '../../../bench/lib/flatness.ts';

const series = (count: number, everyMs: number, rss: (minute: number) => number): { atMs: number; rssMb: number }[] =>
  Array.from({ length: count }, (_, index) => ({ atMs: index * everyMs, rssMb: rss((index * everyMs) / 60_000) }));

describe('bench flatness', () => {
  it('a flat series has slope 0 and no growth', () => {
    const result = flatness(series(121, 5_000, () => 80));
    expect(result.slopeMbPerMinute).toBe(0);
    expect(result.growthPercent).toBe(0);
    expect(result.windowMs).toBe(60_000);
  });

  it('recovers a linear leak in MB per minute', () => {
    expect(slopeMbPerMinute(series(121, 5_000, (minute) => 100 + 2 * minute))).toBeCloseTo(2, 10);
  });

  it('first and last windows are medians: one spike does not move them', () => {
    const samples = series(121, 5_000, () => 80);
    samples[3] = { atMs: samples[3]!.atMs, rssMb: 200 };
    samples[118] = { atMs: samples[118]!.atMs, rssMb: 10 };
    const result = flatness(samples);
    expect(result.firstMb).toBe(80);
    expect(result.lastMb).toBe(80);
  });

  it('windows shrink to a third of a short run', () => {
    const result = flatness(series(46, 2_000, (minute) => 50 + minute * 6));
    expect(result.durationMs).toBe(90_000);
    expect(result.windowMs).toBe(30_000);
    expect(result.firstMb).toBeCloseTo(51.5, 5);
    expect(result.lastMb).toBeCloseTo(57.5, 5);
    expect(result.growthPercent).toBeCloseTo((6 / 51.5) * 100, 5);
  });

  it('slope of fewer than two samples, or of samples at one instant, is NaN', () => {
    expect(slopeMbPerMinute([{ atMs: 0, rssMb: 1 }])).toBeNaN();
    expect(slopeMbPerMinute([{ atMs: 5, rssMb: 1 }, { atMs: 5, rssMb: 2 }])).toBeNaN();
  });

  it('median ignores NaN and averages the middle pair', () => {
    expect(median([3, Number.NaN, 1, 2, 4])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
