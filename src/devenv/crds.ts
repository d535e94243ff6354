import type { RunResult } from './exec.ts';

type Kubectl = (args: string[], options?: { timeoutMs?: number }) => Promise<RunResult>;

/** Applies a CRD manifest and waits until the apiserver serves every CRD in it; returns their names. */
export async function installCrds(kubectl: Kubectl, file: string): Promise<string[]> {
  // Server-side apply: large CRDs overflow the last-applied annotation of client-side apply.
  const applied = await kubectl(['apply', '--server-side', '--field-manager=test-harness', '-o', 'name', '-f', file]);
  if (applied.code !== 0) throw new Error(`kubectl apply -f ${file} failed:\n${applied.stderr}`);
  const crds = applied.stdout.split('\n').filter((l) => l.startsWith('customresourcedefinition'));
  if (crds.length === 0) return [];
  const waited = await kubectl(['wait', '--for', 'condition=established', '--timeout=60s', ...crds], { timeoutMs: 90_000 });
  if (waited.code !== 0) throw new Error(`CRDs from ${file} did not become Established:\n${waited.stderr}${waited.stdout}`);
  return crds;
}
