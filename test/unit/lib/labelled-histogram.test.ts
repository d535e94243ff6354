import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LabelledHistogram } from '../../../src/lib/labelled-histogram.ts';

const NAME = 'test_operations_duration_seconds';
const HELP = 'Duration in seconds for test operations';
const LABELS = ['operation_type', 'status_code', 'namespace', 'resource'] as const;
const BUCKETS = [0.0005, 0.001, 0.0025, 0.01, 0.5, 1, 100];

/** The same observations into prom-client's Histogram and ours, each in a registry of its own. */
function both(observations: readonly (readonly [readonly string[], number])[]): { theirs: Registry; ours: Registry } {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({ name: NAME, help: HELP, labelNames: [...LABELS], buckets: BUCKETS, registers: [theirs] });
  const fast = new LabelledHistogram({ name: NAME, help: HELP, labelNames: LABELS, buckets: BUCKETS, registers: [ours] });
  for (const [values, value] of observations) {
    reference.observe(Object.fromEntries(LABELS.map((label, index) => [label, values[index] ?? ''])), value);
    fast.observe(values, value);
  }
  return { theirs, ours };
}

describe('LabelledHistogram', () => {
  it('is exposed exactly as prom-client exposes a Histogram with the same observations', async () => {
    const observations: [string[], number][] = [
      [['token', '200', 'default', 'https://management.azure.com/'], 0.0004],
      [['token', '200', 'default', 'https://management.azure.com/'], 0.0005],
      [['token', '200', 'default', 'https://management.azure.com/'], 0.0007],
      [['token', '404', 'team-a', ''], 0.02],
      [['proxy', '200', '', ''], 3],
      [['token', '200', 'default', 'https://management.azure.com/'], 250],
      [['token', '200', 'team-a', 'other'], 1],
      [['token', '200', 'default', 'https://vault.azure.net'], 0.001],
    ];
    const { theirs, ours } = both(observations);
    const expected = await theirs.metrics();
    expect(expected).toContain(`${NAME}_bucket{le="0.0005",operation_type="token",status_code="200",namespace="default",resource="https://management.azure.com/"} 2`);
    expect(await ours.metrics()).toBe(expected);
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  it('shows nothing before the first observation and forgets everything on reset', async () => {
    const { theirs, ours } = both([]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    const registry = new Registry();
    const fast = new LabelledHistogram({ name: NAME, help: HELP, labelNames: LABELS, buckets: BUCKETS, registers: [registry] });
    fast.observe(['token', '200', 'default', ''], 0.1);
    expect(await registry.metrics()).toContain(`${NAME}_count{operation_type="token",status_code="200",namespace="default",resource=""} 1`);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('_count');
  });

  it('refuses what prom-client refuses: a value that is not a number, a wrong number of label values, a second metric of the name', () => {
    const registry = new Registry();
    const fast = new LabelledHistogram({ name: NAME, help: HELP, labelNames: LABELS, buckets: BUCKETS, registers: [registry] });
    expect(() => {
      fast.observe(['token', '200', 'default', ''], Number.NaN);
    }).toThrow(/not a finite number/);
    expect(() => {
      fast.observe(['token', '200'], 1);
    }).toThrow(/4 label values expected, got 2/);
    expect(() => new Histogram({ name: NAME, help: HELP, labelNames: [...LABELS], registers: [registry] })).toThrow(/already been registered/);
    expect(() => new LabelledHistogram({ name: 'x', help: HELP, labelNames: LABELS, buckets: [1, 1], registers: [] })).toThrow(/buckets must increase/);
  });
});
