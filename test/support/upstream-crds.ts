/**
 * Upstream aad-pod-identity v1.8.17's CRDs (test/fixtures/upstream-crds/crds.yaml, byte for byte) installed
 * the way its chart installs them: `helm install` of a chart whose `crds/` holds that file, so Helm owns
 * their fields and replacing them takes `kubectl apply --server-side --force-conflicts` (docs/migration.md).
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runHelm, runKubectl } from '../../src/devenv/kubectl.ts';

export const UPSTREAM_CRDS = fileURLToPath(new URL('../fixtures/upstream-crds/crds.yaml', import.meta.url));
const GROUP = 'aadpodidentity.k8s.io';
const PLURALS = ['azureidentities', 'azureidentitybindings', 'azureassignedidentities', 'azurepodidentityexceptions'];

/** Installs them as release `aad-pod-identity` in `namespace` and waits until they are established. */
export async function installUpstreamCrds(plane: { readonly binDir: string; readonly dir: string; readonly kubeconfigPath: string }, namespace = 'kube-system'): Promise<void> {
  const chart = path.join(plane.dir, 'upstream-crd-chart');
  mkdirSync(path.join(chart, 'crds'), { recursive: true });
  writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: aad-pod-identity\nversion: 4.1.18\nappVersion: 1.8.17\n');
  writeFileSync(path.join(chart, 'crds', 'crd.yaml'), readFileSync(UPSTREAM_CRDS));
  const installed = await runHelm(plane, ['install', 'aad-pod-identity', chart, '--namespace', namespace, '--wait']);
  if (installed.code !== 0) throw new Error(`helm install of upstream's CRDs: ${installed.stderr}`);
  const waited = await runKubectl(plane, ['wait', '--for', 'condition=established', '--timeout=60s', ...PLURALS.map((plural) => `crd/${plural}.${GROUP}`)], { timeoutMs: 90_000 });
  if (waited.code !== 0) throw new Error(`upstream's CRDs did not become established: ${waited.stderr}`);
}
