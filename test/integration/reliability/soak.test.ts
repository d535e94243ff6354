/**
 * The soak suite (test/reliability/soak.ts) at scale `ci`: ~75 s of pod churn and token traffic
 * against MIC and two NMIs (SOAK_SECONDS overrides). Records its count line in the reliability report.
 */
import { describe, expect, it } from 'vitest';
import { recordCounts } from '../../reliability/counts.ts';
import { soakScenario } from '../../reliability/soak.ts';

describe('soak (ci)', () => {
  it('churns pods under steady token traffic with flat memory and handles, no leftovers and no breach', async () => {
    const counts = await soakScenario.run({ scale: 'ci', log: (message) => { console.log(message); } });
    recordCounts(counts);
    expect(counts.breachDetails).toEqual([]);
    const seconds = counts.durationMs / 1000;
    // At a pod a second and up to 20 requests a second, a run that did far less did not soak anything.
    expect(counts.details['podsChurned']).toBeGreaterThan(seconds * 0.3);
    expect(counts.details['tokensServed']).toBeGreaterThan(seconds * 2);
    expect(counts.details['unboundRefused']).toBeGreaterThan(0);
    expect(counts.details['deletedRefused']).toBeGreaterThan(0);
  }, 600_000);
});
