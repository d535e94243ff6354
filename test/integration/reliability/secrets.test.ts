/**
 * Secrets in logs (test/reliability/secrets.ts) at scale `ci`: MIC and NMI at --v=5 and the CLI go
 * through every credential path; nothing they print contains a secret, a password, the PFX, a key or
 * a token.
 */
import { expect, it } from 'vitest';
import { recordCounts } from '../../reliability/counts.ts';
import { secretsScenario } from '../../reliability/secrets.ts';

it('no secret, key or token in any output of MIC, NMI (--v=5) or the CLI', async () => {
  const counts = await secretsScenario.run({ scale: 'ci', log: (message) => { console.log(message); } });
  recordCounts(counts);
  expect(counts.breachDetails).toEqual([]);
  expect(counts.details['scanner_self_test']).toBe(1);
  // Every credential path ran and the logs were verbose: there was something to leak.
  expect(counts.attempts).toBeGreaterThanOrEqual(13);
  expect(counts.successes).toBeGreaterThanOrEqual(counts.attempts - 2);
  expect(counts.details['tokens_collected']).toBeGreaterThanOrEqual(6);
  expect(counts.details['known_secrets']).toBeGreaterThanOrEqual(10);
  // NMI has no debug or trace records (its --v=5 output is its info output); MIC has.
  expect(counts.details['trace_lines_mic']).toBeGreaterThan(0);
}, 600_000);
