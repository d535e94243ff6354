import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { AZURE_ASSIGNED_IDENTITY, AZURE_IDENTITY, AZURE_IDENTITY_BINDING, AZURE_POD_IDENTITY_EXCEPTION, GROUP, InvalidResourceError, VERSION, readPodIdentityResource } from '../../src/api/index.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { controlPlane } from '../harness/context.ts';
import { startControlPlane, type ControlPlane } from '../../src/devenv/control-plane.ts';
import { runHelm } from '../../src/devenv/kubectl.ts';
import { readFixture, readYamlDocuments, REPOSITORY_ROOT, upstreamExamplesDir, yamlFilesUnder } from '../support/yaml-files.ts';

// Step 1 of docs/migration.md on a real API server: a cluster in the state aad-pod-identity v1.8.17 leaves
// (its chart's CRDs, installed by helm; identities, bindings, exceptions and AAIs in the shapes it
// accepted, including objects our rules would refuse today and AAIs in `default`) gets our CRDs with the
// documented `kubectl apply --server-side --force-conflicts -f deploy/crds.yaml`. Every object then still
// reads (same UID, same content, our readers accept it) and still updates: a label change, a status write
// as MIC writes it, and a full replace, under our CEL rules (ratcheting).

const CRD_FILE = path.join(REPOSITORY_ROOT.pathname, 'deploy/crds.yaml');
const UPSTREAM_CRDS = new URL('test/fixtures/upstream-crds/crds.yaml', REPOSITORY_ROOT);
/** Objects without a spec: upstream accepted them and ours still do (docs/crds.md). */
const UPSTREAM_ACCEPTED = new URL('test/fixtures/upstream-accepted/', REPOSITORY_ROOT);

const PLURALS: Record<string, string> = {
  [AZURE_IDENTITY.kind]: AZURE_IDENTITY.plural,
  [AZURE_IDENTITY_BINDING.kind]: AZURE_IDENTITY_BINDING.plural,
  [AZURE_ASSIGNED_IDENTITY.kind]: AZURE_ASSIGNED_IDENTITY.plural,
  [AZURE_POD_IDENTITY_EXCEPTION.kind]: AZURE_POD_IDENTITY_EXCEPTION.plural,
};

interface Stored {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; [key: string]: unknown };
  spec?: unknown;
  status?: { status?: string; [key: string]: unknown };
}

interface Ref {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** Where it came from (fixture file or AAI variant), for failure messages. */
  readonly source: string;
}

let plane: ControlPlane | undefined;
let kc: KubeConfig;
const created: Ref[] = [];
const before = new Map<string, Stored>();

const keyOf = (ref: Ref): string => `${ref.kind} ${ref.namespace}/${ref.name}`;
const objectPath = (ref: Pick<Ref, 'kind' | 'namespace'>, name?: string): string =>
  `/apis/${GROUP}/${VERSION}/namespaces/${ref.namespace}/${PLURALS[ref.kind] ?? ref.kind}${name === undefined ? '' : `/${name}`}`;

function p(): ControlPlane {
  if (plane === undefined) throw new Error('control plane not started');
  return plane;
}

async function kubectlOk(args: string[]): Promise<string> {
  const result = await p().kubectl(args);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function ensureNamespace(name: string): Promise<void> {
  const result = await p().kubectl(['create', 'namespace', name]);
  if (result.code !== 0 && !result.stderr.includes('AlreadyExists')) throw new Error(`namespace ${name}: ${result.stderr}`);
}

/** Applies one file as users did (client-side apply; unknown fields pruned, as older kubectl did silently). */
async function applyAsUser(file: URL, namespace?: string): Promise<{ code: number; stderr: string }> {
  return p().kubectl(['apply', '--validate=false', ...(namespace === undefined ? [] : ['-n', namespace]), '-f', file.pathname]);
}

function track(documents: unknown[], namespace: string, source: string): void {
  for (const document of documents) {
    const object = document as { kind?: string; metadata?: { name?: string; namespace?: string } };
    if (object.kind === undefined || PLURALS[object.kind] === undefined || object.metadata?.name === undefined) continue;
    created.push({ kind: object.kind, namespace: object.metadata.namespace ?? namespace, name: object.metadata.name, source });
  }
}

/** AAIs as upstream's MIC created them (POST of the whole object), in `default` unless namespaced. */
async function createUpstreamAais(): Promise<void> {
  const template = readYamlDocuments(new URL('test/fixtures/valid/assigned-identity-upstream.yaml', REPOSITORY_ROOT))[0] as Stored;
  const variants: { name: string; namespace: string; status: Stored['status'] | undefined }[] = [
    { name: 'demo-default-storage-reader', namespace: 'default', status: template.status },
    { name: 'creating-default-storage-reader', namespace: 'default', status: { ...template.status, status: 'Created' } },
    { name: 'leaving-default-storage-reader', namespace: 'default', status: { ...template.status, status: 'Unassigned' } },
    // Before v1.6 an AAI had no status: it reads as assigned.
    { name: 'legacy-default-storage-reader', namespace: 'default', status: undefined },
    // Namespaced identity (forceNamespaced or the Behavior annotation): the AAI lives in its namespace.
    { name: 'writer-team-a-team-a-writer', namespace: 'team-a', status: template.status },
  ];
  for (const variant of variants) {
    const { status: _status, ...rest } = template;
    const body = { ...rest, metadata: { ...template.metadata, name: variant.name, namespace: variant.namespace }, ...(variant.status === undefined ? {} : { status: variant.status }) };
    const ref = { kind: AZURE_ASSIGNED_IDENTITY.kind, namespace: variant.namespace, name: variant.name, source: `AAI ${variant.name}` };
    await rawRequest(kc, { method: 'POST', path: objectPath(ref), body });
    created.push(ref);
  }
}

async function read(ref: Ref): Promise<Stored> {
  return (await rawRequest(kc, { method: 'GET', path: objectPath(ref, ref.name) })) as Stored;
}

/** The CRD's served schema, printer columns and names, as the API server holds them. */
async function liveCrd(name: string): Promise<{ versions: unknown; names: unknown; labels: Record<string, string> | undefined; storedVersions: unknown }> {
  const crd = (await rawRequest(kc, { method: 'GET', path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}` })) as {
    metadata: { labels?: Record<string, string> };
    spec: { versions: unknown; names: unknown };
    status: { storedVersions: unknown };
  };
  return { versions: crd.spec.versions, names: crd.spec.names, labels: crd.metadata.labels, storedVersions: crd.status.storedVersions };
}

beforeAll(async () => {
  plane = await startControlPlane({ binDir: controlPlane().binDir });
  kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfigPath);
  // Upstream's chart installs its CRDs from crds/ with helm: a stub chart holding exactly that file.
  const chart = path.join(plane.dir, 'upstream-chart');
  mkdirSync(path.join(chart, 'crds'), { recursive: true });
  writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: aad-pod-identity\nversion: 4.1.18\nappVersion: 1.8.17\n');
  writeFileSync(path.join(chart, 'crds', 'crd.yaml'), readFileSync(UPSTREAM_CRDS));
  const installed = await runHelm(plane, ['install', 'aad-pod-identity', chart, '--namespace', 'kube-system', '--wait']);
  if (installed.code !== 0) throw new Error(`helm install of upstream's CRDs: ${installed.stderr}`);
  await kubectlOk(['wait', '--for', 'condition=established', '--timeout=60s', ...Object.values(PLURALS).map((plural) => `crd/${plural}.${GROUP}`)]);
}, 180_000);

afterAll(async () => {
  await plane?.stop();
});

describe('replacing upstream v1.8.17 CRDs with ours on a live cluster', () => {
  it('upstream accepts the objects users and its MIC made, including ones our rules refuse at create', async () => {
    for (const namespace of ['team-a', 'migration-invalid', 'migration-valid', 'migration-accepted']) await ensureNamespace(namespace);
    for (const file of yamlFilesUnder(upstreamExamplesDir())) {
      // These name their namespaces; the others land in `default`, as they would for a user.
      const applied = await applyAsUser(file);
      expect(applied.code, `${file.pathname}: ${applied.stderr}`).toBe(0);
      track(readYamlDocuments(file), 'default', file.pathname);
    }
    for (const file of yamlFilesUnder(new URL('test/fixtures/valid/', REPOSITORY_ROOT))) {
      const applied = await applyAsUser(file, 'migration-valid');
      expect(applied.code, `${file.pathname}: ${applied.stderr}`).toBe(0);
      track(readYamlDocuments(file), 'migration-valid', file.pathname);
    }
    for (const file of yamlFilesUnder(UPSTREAM_ACCEPTED)) {
      const applied = await applyAsUser(file, 'migration-accepted');
      expect(applied.code, `${file.pathname}: ${applied.stderr}`).toBe(0);
      track(readYamlDocuments(file), 'migration-accepted', file.pathname);
    }
    // Every object our rules refuse was accepted by upstream (it validated JSON types only); only
    // a type error is refused by both.
    let acceptedInvalid = 0;
    for (const file of yamlFilesUnder(new URL('test/fixtures/invalid/', REPOSITORY_ROOT))) {
      const fixture = readFixture(file);
      const applied = await applyAsUser(file, 'migration-invalid');
      if (fixture.rule === undefined) {
        expect(applied.code, `${fixture.name}: a schema type error, refused by upstream too`).not.toBe(0);
        continue;
      }
      expect(applied.code, `${fixture.name}: ${applied.stderr}`).toBe(0);
      track(fixture.documents, 'migration-invalid', file.pathname);
      acceptedInvalid++;
    }
    expect(acceptedInvalid).toBeGreaterThanOrEqual(15);
    await createUpstreamAais();
    for (const ref of created) before.set(keyOf(ref), await read(ref));
    expect(new Set(created.map(keyOf)).size).toBe(created.length);
    console.log(`[crd-migration] under upstream's CRDs: ${created.length} objects (${acceptedInvalid} that our rules refuse at create, ${created.filter((ref) => ref.kind === AZURE_ASSIGNED_IDENTITY.kind).length} AAIs)`);
  }, 120_000);

  it('`kubectl apply --server-side --force-conflicts -f deploy/crds.yaml` replaces them: the live CRDs are exactly ours', async () => {
    // Helm owns upstream's fields: without --force-conflicts server-side apply stops at them.
    const unforced = await p().kubectl(['apply', '--server-side', '-f', CRD_FILE]);
    expect(unforced.code).not.toBe(0);
    expect(unforced.stderr).toMatch(/conflict/i);
    const result = await p().kubectl(['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]);
    expect(result.code, result.stderr).toBe(0);
    await kubectlOk(['wait', '--for', 'condition=established', '--timeout=60s', ...Object.values(PLURALS).map((plural) => `crd/${plural}.${GROUP}`)]);
    const ours = parseAllDocuments(readFileSync(CRD_FILE, 'utf8')).map((document) => document.toJS() as { metadata: { name: string }; spec: { versions: unknown[]; names: unknown } });
    for (const crd of ours) {
      const live = await liveCrd(crd.metadata.name);
      // Nothing of upstream's schema survives the merge: every version entry is ours field for field.
      expect(live.versions, crd.metadata.name).toEqual(crd.spec.versions);
      expect(live.names).toMatchObject(crd.spec.names as Record<string, unknown>);
      // Upstream's Helm labels stay on the CRD object (harmless); the stored version is still v1 alone.
      expect(live.labels?.['helm.sh/chart']).toBe('aad-pod-identity');
      expect(live.storedVersions).toEqual(['v1']);
    }
    // The new rules are served once a create that only they refuse is refused.
    const probe = new URL('test/fixtures/invalid/identity-client-id-not-guid.yaml', REPOSITORY_ROOT);
    let refused = '';
    for (let attempt = 0; attempt < 100 && refused === ''; attempt++) {
      const dryRun = await p().kubectl(['create', '--dry-run=server', '-n', 'migration-valid', '-f', probe.pathname]);
      if (dryRun.code !== 0) refused = dryRun.stderr;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(refused).toContain('spec.clientID must be a GUID');
    // A spec-less object is still accepted at create, as upstream accepted it.
    for (const file of yamlFilesUnder(UPSTREAM_ACCEPTED)) {
      const dryRun = await p().kubectl(['create', '--dry-run=server', '-n', 'migration-valid', '-f', file.pathname]);
      expect(dryRun.code, `${file.pathname}: ${dryRun.stderr}`).toBe(0);
    }
  }, 90_000);

  it('every object still reads: same UID and content; our readers take it or name what can never work', async () => {
    expect(created.length).toBeGreaterThan(30);
    const unusable: string[] = [];
    for (const ref of created) {
      const now = await read(ref);
      const was = before.get(keyOf(ref));
      expect(now.metadata.uid, ref.source).toBe(was?.metadata.uid);
      // Not rewritten either: the CRD change touched no stored object.
      expect(now.metadata['resourceVersion'], ref.source).toBe(was?.metadata['resourceVersion']);
      expect(now.spec, ref.source).toEqual(was?.spec);
      expect(now.status, ref.source).toEqual(was?.status);
      try {
        readPodIdentityResource(now);
      } catch (error) {
        // MIC and NMI log such an object and skip it, as upstream ignored what it could not use.
        expect(error, ref.source).toBeInstanceOf(InvalidResourceError);
        unusable.push(ref.source);
      }
    }
    // Only objects our rules refuse at create, and spec-less ones, can never work.
    expect(unusable.every((source) => /\/fixtures\/(invalid|upstream-accepted)\//.test(source)), unusable.join('\n')).toBe(true);
    expect(unusable.length).toBeGreaterThan(0);
  });

  it('every object still updates under our rules: a label change, a status write as MIC does it, a full replace', async () => {
    expect(created.length).toBeGreaterThan(30);
    const refusals: string[] = [];
    const attempt = async (ref: Ref, what: string, request: Parameters<typeof rawRequest>[1]): Promise<void> => {
      try {
        await rawRequest(kc, request);
      } catch (error) {
        refusals.push(`${ref.source} (${keyOf(ref)}) ${what}: ${String(error)}`);
      }
    };
    for (const ref of created) {
      const target = objectPath(ref, ref.name);
      await attempt(ref, 'label', {
        method: 'PATCH',
        path: target,
        contentType: 'application/merge-patch+json',
        body: { metadata: { labels: { 'migration.pod-identity.test/step': 'crds' } } },
      });
      // Upstream's and our MIC write an AAI's state with a JSON patch on the main resource.
      const current = await read(ref);
      const statusPatch = ref.kind === AZURE_ASSIGNED_IDENTITY.kind
        ? [{ op: current.status?.status === undefined ? 'add' : 'replace', path: current.status === undefined ? '/status' : '/status/status', value: current.status === undefined ? { status: 'Assigned' } : 'Assigned' }]
        : [{ op: 'add', path: '/status', value: { ...(current.status ?? {}), availableReplicas: 1 } }];
      await attempt(ref, 'status', { method: 'PATCH', path: target, contentType: 'application/json-patch+json', body: statusPatch });
      // A replace of the object as read (upstream's type upgrade, kubectl edit, GitOps tools).
      const latest = await read(ref);
      await attempt(ref, 'replace', { method: 'PUT', path: target, body: { ...latest, metadata: { ...latest.metadata, annotations: { ...(latest.metadata['annotations'] as Record<string, string> | undefined), 'migration.pod-identity.test/replaced': 'true' } } } });
    }
    expect(refusals).toEqual([]);
    // And the updates changed nothing else.
    for (const ref of created) {
      const now = await read(ref);
      const was = before.get(keyOf(ref));
      expect(now.metadata.uid, ref.source).toBe(was?.metadata.uid);
      expect(now.spec, ref.source).toEqual(was?.spec);
      expect(now.metadata.labels?.['migration.pod-identity.test/step'], ref.source).toBe('crds');
    }
    console.log(`[crd-migration] after the replace: ${created.length} objects read unchanged and took ${created.length * 3} updates (label, status, replace), 0 refused`);
  }, 120_000);
});
