import { expect, it } from 'vitest';
import { recordCounts } from '../../reliability/counts.ts';
import { nmiFaultsScenario, retryAfterBreaches } from '../../reliability/nmi-faults.ts';

it('judges IMDS calls against the Retry-After window of the last 429', () => {
  const at = (ms: number, status: number): { time: string; status: number } => ({ time: new Date(Date.UTC(2026, 10, 22, 0, 0, 0, ms)).toISOString(), status });
  expect(retryAfterBreaches([at(0, 429), at(2_100, 200)], 2_000)).toEqual([]);
  expect(retryAfterBreaches([at(0, 429), at(900, 429), at(3_000, 200)], 2_000)).toHaveLength(1);
});

it('NMI recovers from watch expiry, an API server restart, IMDS and Entra faults without restarting, never serving a wrong token', async () => {
  const counts = await nmiFaultsScenario.run({ scale: 'ci', log: (message) => { console.log(message); } });
  recordCounts(counts);
  expect(counts.breachDetails).toEqual([]);
  expect(counts.recoveries).toBe(counts.faults);
  expect(counts.faults).toBeGreaterThanOrEqual(8);
  expect(counts.successes).toBeGreaterThan(5);
  expect(Number(counts.details['api_connections_cut'])).toBeGreaterThan(0);
}, 300_000);
