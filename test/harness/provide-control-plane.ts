import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { startControlPlane, type StartControlPlaneOptions } from '../../src/devenv/control-plane.ts';
import { installCrds } from '../../src/devenv/crds.ts';
import type { ControlPlaneInfo } from './description.ts';

const CRDS = path.join(repoRoot, 'deploy/crds.yaml');

/**
 * What a project's global setup does: one control plane (with our CRDs) for the whole run, handed to
 * its test files as `controlPlane`. Resolves with the teardown.
 */
export async function provideControlPlane(project: TestProject, options: StartControlPlaneOptions = {}): Promise<() => Promise<void>> {
  const cp = await startControlPlane(options);
  try {
    if (!existsSync(CRDS)) throw new Error(`global-setup: ${CRDS} is missing; run \`npm run gen:crds\``);
    const crds = await installCrds((args, o) => cp.kubectl(args, o), CRDS);
    console.log(`global-setup (${project.name}): installed ${crds.length} CRDs from ${CRDS}`);
  } catch (e) {
    await cp.stop();
    throw e;
  }
  const info: ControlPlaneInfo = cp.info();
  project.provide('controlPlane', info);
  console.log(`control plane (${project.name}): ${cp.server} ready in ${cp.startupMs} ms (etcd + kube-apiserver), dir ${cp.dir}`);
  return () => cp.stop();
}
