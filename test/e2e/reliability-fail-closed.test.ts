/**
 * The fail-closed suite (test/reliability/fail-closed.ts) at scale `ci`: pods asking for tokens while
 * NMI is killed, terminated, upgraded and its rules deleted, and before NMI ever ran on the node. Not
 * one pod request may reach the node's IMDS while NMI's rules are installed; the not-ready taint goes
 * only after the rules are in; every fault recovers. Prints and records the count line.
 */
import { expect, it } from 'vitest';
import { recordCounts } from '../reliability/counts.ts';
import { failClosedScenario } from '../reliability/fail-closed.ts';

it('fail-closed: no pod request reaches the node IMDS while NMI runs, restarts, is killed or upgraded', async () => {
  const counts = await failClosedScenario.run({ scale: 'ci', log: (message) => { console.log(message); } });
  recordCounts(counts);
  expect(counts.breachDetails).toEqual([]);
  expect(counts.faults).toBe(6);
  expect(counts.recoveries).toBe(counts.faults);
  expect(Math.max(...counts.recoverMs)).toBeLessThan(30_000);
  expect(counts.successes).toBeGreaterThan(0);
  expect(counts.attempts).toBeGreaterThan(counts.successes);
  // The window before the first install is measured, and NMI removed the taint only after the rules.
  expect(counts.details['windowNmiStartToRulesMs']).toEqual(expect.any(Number));
  expect(Number(counts.details['taintRemovedAfterRulesMs'])).toBeGreaterThanOrEqual(0);
  // NMI with the taint flag read and patched its node; without it, never a Node request.
  expect(Number(counts.details['nodeRequests:v1+taint'])).toBeGreaterThanOrEqual(2);
  expect(counts.details['nodeRequests:v2']).toBe(0);
}, 240_000);
