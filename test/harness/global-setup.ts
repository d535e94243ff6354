import type { TestProject } from 'vitest/node';
import { provideControlPlane } from './provide-control-plane.ts';

/** Vitest global setup of the integration project: one control plane (with our CRDs) for the whole run. */
export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return provideControlPlane(project);
}
