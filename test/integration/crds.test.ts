import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  AZURE_ASSIGNED_IDENTITY,
  AZURE_IDENTITY,
  AZURE_IDENTITY_BINDING,
  AZURE_POD_IDENTITY_EXCEPTION,
  AssignedIdentityState,
  GROUP,
  IdentityType,
  VERSION,
  isPodIdentityApiObject,
  readAzureIdentity,
  readAzureAssignedIdentity,
  readPodIdentityResource,
  type PodIdentityResource,
} from '../../src/api/index.ts';
import { kubeConfig, kubectl, uniqueNamespace } from '../harness/context.ts';
import { readFixture, readYamlDocuments, REPOSITORY_ROOT, upstreamExamplesDir, yamlFilesUnder } from '../support/yaml-files.ts';

// The CRDs on a real kube-apiserver: what users already have applies unchanged and reads back as the
// normalised objects; what can never work is refused with the documented message; and an AAI's status is
// written exactly as upstream's MIC writes it.

const PLURAL_BY_KIND: Record<string, string> = {
  [AZURE_IDENTITY.kind]: AZURE_IDENTITY.plural,
  [AZURE_IDENTITY_BINDING.kind]: AZURE_IDENTITY_BINDING.plural,
  [AZURE_ASSIGNED_IDENTITY.kind]: AZURE_ASSIGNED_IDENTITY.plural,
  [AZURE_POD_IDENTITY_EXCEPTION.kind]: AZURE_POD_IDENTITY_EXCEPTION.plural,
};

/** stderr without the API server's warnings (e.g. about upstream's finalizer name, kept for compatibility). */
function errorsIn(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('Warning: '))
    .join('\n');
}

interface ObjectRef {
  kind: string;
  name: string;
  namespace: string;
}

function refOf(raw: unknown, defaultNamespace: string): ObjectRef {
  const object = raw as { kind: string; metadata: { name: string; namespace?: string } };
  return { kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace ?? defaultNamespace };
}

async function readBack(ref: ObjectRef): Promise<unknown> {
  const api = kubeConfig().makeApiClient(CustomObjectsApi);
  const plural = PLURAL_BY_KIND[ref.kind];
  if (plural === undefined) throw new Error(`unexpected kind ${ref.kind}`);
  return api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ref.namespace, plural, name: ref.name });
}

async function ensureNamespace(name: string): Promise<void> {
  const created = await kubectl(['create', 'namespace', name]);
  if (created.code !== 0 && !created.stderr.includes('AlreadyExists')) throw new Error(`create namespace ${name}: ${created.stderr}`);
}

/** The fields a reader produces, without what the API server adds (uid, resourceVersion, timestamps…). */
function comparable(object: PodIdentityResource): unknown {
  return {
    kind: object.kind,
    name: object.metadata.name,
    labels: object.metadata.labels,
    annotations: Object.fromEntries(
      Object.entries(object.metadata.annotations ?? {}).filter(([key]) => key !== 'kubectl.kubernetes.io/last-applied-configuration'),
    ),
    spec: object.spec,
  };
}

describe('upstream-form examples apply unchanged with kubectl and read back normalised', () => {
  const examples = upstreamExamplesDir();
  const files = yamlFilesUnder(examples);

  it('found the examples (legacy ones included)', () => {
    expect(files.some((file) => file.pathname.includes('/legacy/'))).toBe(true);
    expect(files.length).toBeGreaterThanOrEqual(6);
  });

  it.each(files.map((file) => [file.pathname.slice(examples.pathname.length), file] as const))('%s', async (_label, file) => {
    // The examples name their namespaces (default, team-a, kube-system); objects without one land in
    // `default`, as they would for a user.
    const documents = readYamlDocuments(file);
    for (const document of documents) {
      const namespace = (document as { metadata?: { namespace?: string } }).metadata?.namespace;
      if (namespace !== undefined) await ensureNamespace(namespace);
    }

    const applied = await kubectl(['apply', '-f', file.pathname]);
    expect(errorsIn(applied.stderr)).toBe('');
    expect(applied.code).toBe(0);

    for (const document of documents.filter(isPodIdentityApiObject)) {
      const stored = await readBack(refOf(document, 'default'));
      // What the API server kept (nothing pruned, legacy spellings included) reads to exactly what the
      // file itself reads to.
      expect(comparable(readPodIdentityResource(stored))).toEqual(comparable(readPodIdentityResource(document)));
    }
  });

  it('the legacy PascalCase identity reads with the current field names', async () => {
    const identity = readPodIdentityResource(await readBack({ kind: AZURE_IDENTITY.kind, name: 'spaccess', namespace: 'default' }));
    expect(identity.spec).toEqual({
      type: 1,
      tenantID: '22222222-2222-2222-2222-222222222222',
      clientID: '88888888-8888-8888-8888-888888888888',
      clientPassword: { name: 'sp-secret', namespace: 'default' },
    });
    const binding = readPodIdentityResource(await readBack({ kind: AZURE_IDENTITY_BINDING.kind, name: 'azureaccess', namespace: 'default' }));
    expect(binding.spec).toEqual({ azureIdentity: 'azureaccess', selector: 'azure-access' });
  });

  it('kubectl get shows the printer columns', async () => {
    const identities = await kubectl(['get', 'azureidentities', '-n', 'default', 'storage-reader']);
    expect(identities.code).toBe(0);
    expect(identities.stdout).toMatch(/NAME\s+TYPE\s+CLIENTID\s+AGE/);
    expect(identities.stdout).toMatch(/storage-reader\s+0\s+11111111-1111-1111-1111-111111111111/);
    const bindings = await kubectl(['get', 'azureidentitybindings', '-n', 'default', 'storage-reader-binding']);
    expect(bindings.stdout).toMatch(/storage-reader-binding\s+storage-reader\s+storage-reader/);
  });
});

describe('valid fixtures are accepted', () => {
  const files = yamlFilesUnder(new URL('test/fixtures/valid/', REPOSITORY_ROOT));
  it.each(files.map((file) => [file.pathname.split('/').at(-1), file] as const))('%s', async (_name, file) => {
    const namespace = await uniqueNamespace('valid');
    const applied = await kubectl(['apply', '-n', namespace, '-f', file.pathname]);
    expect(errorsIn(applied.stderr)).toBe('');
    expect(applied.code).toBe(0);
  });
});

describe('invalid manifests are refused with the documented message', () => {
  const fixtures = yamlFilesUnder(new URL('test/fixtures/invalid/', REPOSITORY_ROOT)).map(readFixture);

  it.each(fixtures.map((fixture) => [fixture.name, fixture] as const))('%s', async (_name, fixture) => {
    expect(fixture.expect).toBeDefined();
    const namespace = await uniqueNamespace('invalid');
    const applied = await kubectl(['apply', '-n', namespace, '-f', fixture.file.pathname]);
    expect(applied.code).not.toBe(0);
    expect(applied.stderr).toContain('is invalid');
    expect(applied.stderr).toContain(fixture.expect);
    // Nothing was stored.
    const listed = await kubectl(['get', 'azureidentities,azureidentitybindings,azurepodidentityexceptions', '-n', namespace, '-o', 'name']);
    expect(listed.stdout.trim()).toBe('');
  });
});

describe('federated identities (type 3)', () => {
  const fixture = (name: string): URL => new URL(`test/fixtures/valid/${name}`, REPOSITORY_ROOT);

  it('are accepted with clientID and tenantID only, and kubectl get shows type 3', async () => {
    const namespace = await uniqueNamespace('federated');
    const applied = await kubectl(['apply', '-n', namespace, '-f', fixture('identity-federated.yaml').pathname]);
    expect(errorsIn(applied.stderr)).toBe('');
    const identity = readAzureIdentity(await readBack({ kind: AZURE_IDENTITY.kind, name: 'federated', namespace }));
    expect(identity.spec).toEqual({
      type: IdentityType.FederatedIdentity,
      clientID: '66666666-6666-6666-6666-666666666666',
      tenantID: '22222222-2222-2222-2222-222222222222',
    });
    const listed = await kubectl(['get', 'azureidentities', '-n', namespace, 'federated']);
    expect(listed.stdout).toMatch(/federated\s+3\s+66666666-6666-6666-6666-666666666666/);
  });

  it('in the legacy casing (Type, ClientID, TenantID) are accepted and read as type 3', async () => {
    const namespace = await uniqueNamespace('federated-legacy');
    const applied = await kubectl(['apply', '-n', namespace, '-f', fixture('identity-federated-legacy-casing.yaml').pathname]);
    expect(errorsIn(applied.stderr)).toBe('');
    const stored = await readBack({ kind: AZURE_IDENTITY.kind, name: 'federated-legacy-casing', namespace });
    // The API server kept the spellings as written; the reader maps them to the current names.
    expect((stored as { spec: unknown }).spec).toEqual({
      Type: 3,
      ClientID: '66666666-6666-6666-6666-666666666666',
      TenantID: '22222222-2222-2222-2222-222222222222',
    });
    expect(readAzureIdentity(stored).spec).toEqual({
      type: IdentityType.FederatedIdentity,
      clientID: '66666666-6666-6666-6666-666666666666',
      tenantID: '22222222-2222-2222-2222-222222222222',
    });
  });

  it('without clientID and tenantID are refused, naming both fields', async () => {
    const namespace = await uniqueNamespace('federated-invalid');
    const manifest = { apiVersion: `${GROUP}/${VERSION}`, kind: AZURE_IDENTITY.kind, metadata: { name: 'federated-bare' }, spec: { type: 3 } };
    const created = await kubectl(['create', '-n', namespace, '-f', '-'], { input: JSON.stringify(manifest) });
    expect(created.code).not.toBe(0);
    expect(created.stderr).toContain('spec.clientID: Required value: spec.clientID is required');
    expect(created.stderr).toContain(
      'spec.tenantID: Required value: spec.tenantID is required for a service principal (type 1 or 2) or a federated identity (type 3)',
    );
    // No Secret is asked for: type 3 has none.
    expect(created.stderr).not.toContain('clientPassword');
  });
});

describe('AzureAssignedIdentity status, written as upstream MIC writes it', () => {
  it('a JSON patch on /status/status through the main resource (no status subresource)', async () => {
    const namespace = await uniqueNamespace('aai');
    const file = new URL('test/fixtures/valid/assigned-identity-upstream.yaml', REPOSITORY_ROOT);
    const created = await kubectl(['create', '-n', namespace, '-f', file.pathname]);
    expect(errorsIn(created.stderr)).toBe('');

    const [document] = readYamlDocuments(file);
    const name = refOf(document, namespace).name;
    const api = kubeConfig().makeApiClient(CustomObjectsApi);
    const target = { group: GROUP, version: VERSION, namespace, plural: AZURE_ASSIGNED_IDENTITY.plural, name };
    for (const state of [AssignedIdentityState.Created, AssignedIdentityState.Assigned, AssignedIdentityState.Unassigned]) {
      await api.patchNamespacedCustomObject(
        { ...target, body: [{ op: 'replace', path: '/status/status', value: state }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
      const stored = readAzureAssignedIdentity(await api.getNamespacedCustomObject(target));
      expect(stored.status?.status).toBe(state);
      // The rest of the object is untouched by a status write.
      expect(stored.spec.pod).toBe('demo');
      expect(stored.spec.azureIdentityRef?.spec.clientID).toBe('11111111-1111-1111-1111-111111111111');
    }

    const columns = await kubectl(['get', 'azureassignedidentities', '-n', namespace, name]);
    expect(columns.stdout).toMatch(/NAME\s+POD\s+PODNAMESPACE\s+NODE\s+IDENTITY\s+STATE\s+AGE/);
    expect(columns.stdout).toMatch(/demo\s+default\s+aks-nodepool1-12345678-vmss000000\s+storage-reader\s+Unassigned/);

    // There is no status subresource: /status does not exist, as upstream's CRD.
    const subresource = await kubectl(['get', '--raw', `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${AZURE_ASSIGNED_IDENTITY.plural}/${name}/status`]);
    expect(subresource.code).not.toBe(0);
    expect(subresource.stderr).toContain('NotFound');
  });
});
