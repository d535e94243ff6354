/**
 * The reliability and security suites (issue 8), in the order `npm run bench -- --only reliability`
 * runs them. Each module exports one {@link ReliabilityScenario}; its test file runs it at scale `ci`.
 * @module
 */
import { adversarialScenario } from './adversarial.ts';
import type { ReliabilityScenario } from './counts.ts';
import { failClosedScenario } from './fail-closed.ts';
import { micFaultsScenario } from './mic-faults.ts';
import { nmiFaultsScenario } from './nmi-faults.ts';
import { nmiFuzzScenario } from './nmi-fuzz.ts';
import { secretsScenario } from './secrets.ts';
import { soakScenario } from './soak.ts';

export const RELIABILITY_SCENARIOS: readonly ReliabilityScenario[] = [
  adversarialScenario,
  failClosedScenario,
  micFaultsScenario,
  nmiFaultsScenario,
  nmiFuzzScenario,
  secretsScenario,
  soakScenario,
];
