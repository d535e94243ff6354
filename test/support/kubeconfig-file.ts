/**
 * A kubeconfig file in a fresh temp directory: one cluster `k` (server https://127.0.0.1:6443/ plus
 * `cluster`), one user `u`, one current context `c`, and any top-level `extra` fields.
 * @module
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function writeKubeconfig(prefix: string, user: Record<string, unknown>, cluster: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), `${prefix}-`)), 'config');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443/', ...cluster } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
      ...extra,
    }),
  );
  return file;
}
