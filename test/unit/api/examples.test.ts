import { describe, expect, it } from 'vitest';
import {
  API_VERSION,
  IdentityType,
  isPodIdentityApiObject,
  readPodIdentityResource,
  type AzureIdentity,
  type AzureIdentityBinding,
  type PodIdentityResource,
} from '../../../src/api/index.ts';
import { readYamlDocuments, REPOSITORY_ROOT, upstreamExamplesDir, yamlFilesUnder } from '../../support/yaml-files.ts';

const examplesDir = upstreamExamplesDir();
const validFixturesDir = new URL('test/fixtures/valid/', REPOSITORY_ROOT);

/** Every pod-identity object in the YAML files under `dir`, labelled by file and index. */
function apiObjectsUnder(dir: URL): [string, unknown][] {
  return yamlFilesUnder(dir).flatMap((file) =>
    readYamlDocuments(file)
      .filter(isPodIdentityApiObject)
      .map((document, index): [string, unknown] => [`${file.pathname.slice(dir.pathname.length)}#${index}`, document]),
  );
}

function readAll(dir: URL): Map<string, PodIdentityResource> {
  const objects = new Map<string, PodIdentityResource>();
  for (const [, raw] of apiObjectsUnder(dir)) {
    const object = readPodIdentityResource(raw);
    objects.set(`${object.kind}/${object.metadata.name ?? ''}`, object);
  }
  return objects;
}

describe('upstream-form examples (test/fixtures/upstream-examples)', () => {
  const cases = apiObjectsUnder(examplesDir);

  it('include objects of the API group (the examples folder was found)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });

  it.each(cases)('%s is read without error', (_label, raw) => {
    const object = readPodIdentityResource(raw);
    expect(object.apiVersion).toBe(API_VERSION);
  });

  it('read to the documented values', () => {
    const objects = readAll(examplesDir);
    expect(objects.get('AzureIdentity/storage-reader')?.spec).toEqual({
      type: IdentityType.UserAssignedMSI,
      resourceID:
        '/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/MC_demo_demo_westeurope/providers/Microsoft.ManagedIdentity/userAssignedIdentities/storage-reader',
      clientID: '11111111-1111-1111-1111-111111111111',
    });
    expect(objects.get('AzureIdentity/sp-cert')?.spec).toMatchObject({
      type: IdentityType.ServicePrincipalCertificate,
      clientPassword: { name: 'sp-cert', namespace: 'default' },
    });
    expect(objects.get('AzureIdentityBinding/sp-access-binding')?.spec).toEqual({ azureIdentity: 'sp-access', selector: 'sp-access' });
    expect(objects.get('AzurePodIdentityException/aks-addon-exception')?.spec).toEqual({
      podLabels: { 'kubernetes.azure.com/managedby': 'aks' },
    });
    expect(objects.get('AzureIdentity/team-a-writer')?.metadata.annotations).toEqual({ 'aadpodidentity.k8s.io/Behavior': 'namespaced' });
  });

  it('map the PascalCase of legacy/identity-pascal-case.yaml to the current names', () => {
    const objects = readAll(new URL('legacy/', examplesDir));
    const userAssigned = objects.get('AzureIdentity/azureaccess') as AzureIdentity;
    expect(userAssigned.spec).toEqual({
      type: 0,
      resourceID:
        '/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/MC_demo_demo_westeurope/providers/Microsoft.ManagedIdentity/userAssignedIdentities/azureaccess',
      clientID: '77777777-7777-7777-7777-777777777777',
    });
    const servicePrincipal = objects.get('AzureIdentity/spaccess') as AzureIdentity;
    expect(servicePrincipal.spec).toEqual({
      type: 1,
      tenantID: '22222222-2222-2222-2222-222222222222',
      clientID: '88888888-8888-8888-8888-888888888888',
      clientPassword: { name: 'sp-secret', namespace: 'default' },
    });
    expect((objects.get('AzureIdentityBinding/spaccess') as AzureIdentityBinding).spec).toEqual({
      azureIdentity: 'spaccess',
      selector: 'sp-access',
    });
  });
});

describe('valid fixtures (test/fixtures/valid)', () => {
  it.each(apiObjectsUnder(validFixturesDir))('%s is read without error', (_label, raw) => {
    expect(() => readPodIdentityResource(raw)).not.toThrow();
  });
});
