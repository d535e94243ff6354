import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compatKubeVersion, repoRoot } from '../../src/devenv/binaries.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { helm, kubeConfig, kubectl } from '../harness/context.ts';
import { readYamlDocuments } from '../support/yaml-files.ts';

// What only the compat run checks: that it really runs on the oldest Kubernetes minor AKS still supports
// (so the reused integration files prove something about that version), and that our CRDs stand on it
// whole: every CRD Established with every CEL rule as written (kube-apiserver refuses a CRD whose rule
// it cannot compile or whose cost is over budget, and global setup created them on this server), and
// the chart declares exactly the range tested and renders objects this server accepts.

const CRD_FILE = pathToFileURL(path.join(repoRoot, 'deploy/crds.yaml'));
const CHART = path.join(repoRoot, 'charts/pod-identity');

interface Crd {
  metadata: { name: string };
  spec: { versions: { name: string; schema?: { openAPIV3Schema?: unknown } }[] };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

/** Every `x-kubernetes-validations` rule under a schema node, with the path where it sits. */
function rulesIn(node: unknown, at = ''): string[] {
  if (node === null || typeof node !== 'object') return [];
  if (Array.isArray(node)) return node.flatMap((item, i) => rulesIn(item, `${at}[${i}]`));
  return Object.entries(node).flatMap(([key, value]) =>
    key === 'x-kubernetes-validations' && Array.isArray(value)
      ? value.map((entry) => `${at}: ${(entry as { rule: string }).rule}`)
      : rulesIn(value, `${at}.${key}`),
  );
}

function rulesOf(crd: Crd): string[] {
  return crd.spec.versions.flatMap((version) => rulesIn(version.schema?.openAPIV3Schema, version.name));
}

describe(`the compat API server (kube-apiserver ${compatKubeVersion()})`, () => {
  it('is the pinned version, not the main run’s', async () => {
    const version = (await rawRequest(kubeConfig(), { method: 'GET', path: '/version' })) as { gitVersion: string; minor: string };
    expect(version.gitVersion).toBe(compatKubeVersion());
    expect(version.minor).toBe(compatKubeVersion().split('.')[1]);
  });

  const declared = readYamlDocuments(CRD_FILE) as Crd[];

  it('serves every CRD of deploy/crds.yaml, Established, with every CEL rule as written', async () => {
    expect(declared.length).toBe(4);
    expect(declared.flatMap(rulesOf).length).toBeGreaterThan(0);
    for (const crd of declared) {
      const stored = (await rawRequest(kubeConfig(), {
        method: 'GET',
        path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      })) as Crd;
      const conditions = Object.fromEntries((stored.status?.conditions ?? []).map((c) => [c.type, c.status]));
      expect(conditions, crd.metadata.name).toMatchObject({ Established: 'True', NamesAccepted: 'True' });
      expect(conditions['NonStructuralSchema'], crd.metadata.name).toBeUndefined();
      expect(rulesOf(stored), crd.metadata.name).toEqual(rulesOf(crd));
    }
  });
});

describe('the chart on the compat API server', () => {
  const minor = compatKubeVersion().split('.')[1];

  it('declares kubeVersion from the compat minor on (the oldest version CI tests)', () => {
    const chart = parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as { kubeVersion?: string };
    expect(chart.kubeVersion).toBe(`>=1.${minor}.0-0`);
  });

  it('installs there: helm checks kubeVersion against the server, which accepts every object (strict field validation)', async () => {
    // --dry-run=server: helm reads the server's version (the kubeVersion check) without installing.
    const installed = await helm(['install', 'pod-identity', CHART, '--namespace', 'kube-system', '--dry-run=server', '--skip-crds']);
    expect(installed.stderr).toBe('');
    expect(installed.code).toBe(0);
    const rendered = await helm(['template', 'pod-identity', CHART, '--namespace', 'kube-system', '--skip-crds']);
    expect(rendered.code).toBe(0);
    const applied = await kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], { input: rendered.stdout });
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
  });
});
