import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { startControlPlane } from '../../src/devenv/control-plane.ts';
import { installCrds } from '../../src/devenv/crds.ts';
import type { ControlPlaneInfo } from './description.ts';

const CRDS = path.join(repoRoot, 'deploy/crds.yaml');

/** Vitest global setup of the integration project: one control plane (with our CRDs) for the whole run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cp = await startControlPlane();
  try {
    if (!existsSync(CRDS)) throw new Error(`global-setup: ${CRDS} is missing; run \`npm run gen:crds\``);
    const crds = await installCrds((args, o) => cp.kubectl(args, o), CRDS);
    console.log(`global-setup: installed ${crds.length} CRDs from ${CRDS}`);
  } catch (e) {
    await cp.stop();
    throw e;
  }
  const info: ControlPlaneInfo = cp.info();
  project.provide('controlPlane', info);
  console.log(`control plane: ${cp.server} ready in ${cp.startupMs} ms (etcd + kube-apiserver), dir ${cp.dir}`);
  return () => cp.stop();
}
