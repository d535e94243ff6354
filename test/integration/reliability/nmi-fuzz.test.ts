/**
 * The NMI fuzzer (test/reliability/nmi-fuzz.ts) at scale `ci`: a few hundred generated requests with
 * a fixed seed against a real NMI; no breach (crash, hang, undocumented 5xx, non-JSON error, token to
 * a caller not bound to it), and the bound pod still gets its token afterwards.
 */
import { expect, it } from 'vitest';
import { recordCounts } from '../../reliability/counts.ts';
import { nmiFuzzScenario } from '../../reliability/nmi-fuzz.ts';

it('NMI answers every fuzzed request without a crash, an undocumented 5xx, a non-JSON error or a misplaced token', async () => {
  const counts = await nmiFuzzScenario.run({ scale: 'ci', log: (message) => { console.log(message); } });
  recordCounts(counts);
  expect(counts.breachDetails).toEqual([]);
  expect(counts.attempts).toBeGreaterThanOrEqual(400);
  expect(counts.details['connections']).toBe(400);
  expect(counts.successes).toBeGreaterThan(5);
  expect(counts.details['token_after_fuzz']).toBe(1);
  // Nothing a client sends (or a client hanging up) is an error in NMI's log.
  expect(counts.details['nmi_error_log_lines']).toBe(0);
  // The grammar reaches every layer: Node's parser, NMI's refusals, the proxy and the token path.
  for (const status of ['status_200', 'status_400', 'status_404']) expect(counts.details[status], status).toBeGreaterThan(0);
  expect(counts.details['parser_refusals']).toBeGreaterThan(0);
  expect(counts.details['proxied_to_imds']).toBeGreaterThan(0);
}, 420_000);
