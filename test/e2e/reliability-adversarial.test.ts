/**
 * The adversarial-pods suite (test/reliability/adversarial.ts) at scale `ci`: two node namespaces with
 * NMI and real iptables, a real API server, the simulator and MIC; every attack kind of issue 8 from
 * real pod namespaces, against type-0 and federated (type 3) identities. Records the count line in bench/reports/reliability.json.
 */
import { expect, it } from 'vitest';
import { adversarialScenario, ATTACK_KINDS, FEDERATED_ATTACK_KINDS } from '../reliability/adversarial.ts';
import { recordCounts } from '../reliability/counts.ts';

it('no pod gets a token for an identity it is not bound to (adversarial, ci)', async () => {
  const counts = await adversarialScenario.run({ scale: 'ci', log: (message) => { console.log(message); } });
  recordCounts(counts);
  expect(counts.breachDetails).toEqual([]);
  expect(counts.attempts).toBeGreaterThan(200);
  expect(counts.successes).toBeGreaterThan(15);
  expect(counts.details['legit_failed']).toBe(0);
  expect(counts.details['secret_findings']).toBe(0);
  for (const kind of [...ATTACK_KINDS, ...FEDERATED_ATTACK_KINDS]) expect(counts.details[kind], kind).toMatch(/^[1-9]\d*\[/);
}, 400_000);
