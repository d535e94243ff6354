import { expect, it } from 'vitest';
import { recordCounts } from '../../reliability/counts.ts';
import { micFaultsScenario } from '../../reliability/mic-faults.ts';

// Faults for MIC at CI scale (issue 8): every phase converges once its faults stop, with no write
// inside a Retry-After window, no duplicated or lost assignment and no MIC restart. Full scale:
// `BENCH_RELIABILITY_SUITES=mic-faults npm run bench -- --only reliability`.
it('MIC recovers from ARM faults, an API server restart, watch expiry and a killed leader', async () => {
  const counts = await micFaultsScenario.run({ scale: 'ci', log: (message) => { console.log(message); } });
  recordCounts(counts);
  expect(counts.breachDetails).toEqual([]);
  expect(counts.faults).toBeGreaterThan(0);
  expect(counts.recoveries).toBe(counts.faults);
}, 300_000);
