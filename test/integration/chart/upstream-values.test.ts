/**
 * Upstream chart values that used to be accepted and ignored (issue 14), against helm and a real API
 * server: `rbac.pspEnabled=true` fails the install with a message (PodSecurityPolicy is gone since
 * Kubernetes 1.25), upstream's AKS add-on exception is installed with `installMICException` as
 * upstream's chart did (beside an `aks-addon-exception` that upstream or AKS already made), and NMI's
 * `--metrics-operation-type` is an optional value.
 */
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../src/devenv/binaries.ts';
import { helm, kubectl, uniqueNamespace } from '../../harness/context.ts';

const CHART = path.join(repoRoot, 'charts/pod-identity');
const AKS_LABELS = { 'kubernetes.azure.com/managedby': 'aks' };

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { podLabels?: Record<string, string>; template?: { spec: { containers: { args: string[] }[] } } };
}

async function template(args: string[], release = 'pod-identity'): Promise<{ code: number | null; stdout: string; stderr: string; manifests: Manifest[] }> {
  const result = await helm(['template', release, CHART, '--namespace', 'pod-identity-system', '--skip-crds', ...args]);
  const manifests = result.code !== 0 ? [] : parseAllDocuments(result.stdout).map((document) => document.toJS() as Manifest | null).filter((manifest): manifest is Manifest => manifest !== null);
  return { ...result, manifests };
}

const exceptions = (manifests: Manifest[]): Manifest[] => manifests.filter((manifest) => manifest.kind === 'AzurePodIdentityException');
const nmiArgs = (manifests: Manifest[]): string[] => manifests.find((manifest) => manifest.kind === 'DaemonSet')?.spec?.template?.spec.containers[0]?.args ?? [];

describe('rbac.pspEnabled (PodSecurityPolicy, removed in Kubernetes 1.25)', () => {
  it('true fails with a message that says why and what to do instead', async () => {
    const result = await template(['--set', 'rbac.pspEnabled=true']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('rbac.pspEnabled=true: PodSecurityPolicy was removed in Kubernetes 1.25');
    expect(result.stderr).toContain('Pod Security Admission');
  });

  it('false or unset renders exactly what the defaults render', async () => {
    const defaults = await template([]);
    expect(defaults.code, defaults.stderr).toBe(0);
    expect((await template(['--set', 'rbac.pspEnabled=false'])).stdout).toBe(defaults.stdout);
  });
});

describe('upstream’s AKS add-on exception (installMICException)', () => {
  it('is installed in kube-system with upstream’s label, beside the MIC exception, in either mode', async () => {
    const standard = exceptions((await template([])).manifests);
    expect(standard.map((manifest) => [manifest.metadata.namespace, manifest.metadata.name])).toEqual([
      ['pod-identity-system', 'pod-identity-mic'],
      ['kube-system', 'pod-identity-aks-addon-exception'],
    ]);
    expect(standard[1]?.spec?.podLabels).toEqual(AKS_LABELS);
    expect(standard[1]?.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
    // Managed mode has no MIC, but AKS's add-ons still need the node's identities.
    expect(exceptions((await template(['--set', 'operationMode=managed'])).manifests).map((manifest) => manifest.metadata.name)).toEqual(['pod-identity-aks-addon-exception']);
    for (const mode of ['standard', 'managed']) {
      expect(exceptions((await template(['--set', 'installMICException=false', '--set', `operationMode=${mode}`])).manifests), mode).toEqual([]);
    }
    // The release names it, so two releases never claim the same object.
    expect(exceptions((await template([], 'other')).manifests).map((manifest) => manifest.metadata.name)).toContain('other-pod-identity-aks-addon-exception');
  });

  it('deploy/pod-identity.yaml carries it', async () => {
    const result = await kubectl(['apply', '--dry-run=server', '-f', path.join(repoRoot, 'deploy/pod-identity.yaml')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('azurepodidentityexception.aadpodidentity.k8s.io/pod-identity-aks-addon-exception created (server dry run)');
  });

  it('helm install succeeds beside an aks-addon-exception that upstream (or AKS) made; uninstall leaves that one alone', async () => {
    // As upstream's deploy/infra/mic-exception.yaml (and the AKS add-on) create it, with no Helm ownership.
    const upstream = { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzurePodIdentityException', metadata: { name: 'aks-addon-exception', namespace: 'kube-system' }, spec: { podLabels: AKS_LABELS } };
    const applied = await kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(upstream) });
    expect(applied.code, applied.stderr).toBe(0);
    const namespace = await uniqueNamespace('aks-exception');
    const release = `aks${namespace.slice(-8)}`;
    const install = await helm(['install', release, CHART, '-n', namespace, '--skip-crds']);
    expect(install.code, install.stderr).toBe(0);
    try {
      const list = await kubectl(['get', 'azurepodidentityexceptions', '-n', 'kube-system', '-o', 'json']);
      const items = (JSON.parse(list.stdout) as { items: Manifest[] }).items;
      const ours = items.find((item) => item.metadata.name === `${release}-pod-identity-aks-addon-exception`);
      expect(ours?.spec?.podLabels).toEqual(AKS_LABELS);
      expect(ours?.metadata.labels?.['app.kubernetes.io/instance']).toBe(release);
      expect(items.find((item) => item.metadata.name === 'aks-addon-exception')?.spec?.podLabels).toEqual(AKS_LABELS);
    } finally {
      const uninstall = await helm(['uninstall', release, '-n', namespace, '--wait']);
      expect(uninstall.code, uninstall.stderr).toBe(0);
    }
    const after = await kubectl(['get', 'azurepodidentityexceptions', '-n', 'kube-system', '-o', 'name']);
    expect(after.stdout).toContain('azurepodidentityexception.aadpodidentity.k8s.io/aks-addon-exception');
    expect(after.stdout).not.toContain(`${release}-pod-identity-aks-addon-exception`);
  }, 120_000);
});

describe('nmi.metricsOperationType', () => {
  it('is off by default (NMI’s default, route); path passes the flag; anything else is refused', async () => {
    expect(nmiArgs((await template([])).manifests).some((arg) => arg.startsWith('--metrics-operation-type'))).toBe(false);
    expect(nmiArgs((await template(['--set', 'nmi.metricsOperationType=path'])).manifests)).toContain('--metrics-operation-type=path');
    const bad = await template(['--set', 'nmi.metricsOperationType=url']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('/nmi/metricsOperationType');
  });
});
