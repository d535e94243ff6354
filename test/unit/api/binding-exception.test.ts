import { describe, expect, it } from 'vitest';
import { InvalidResourceError, readAzureIdentityBinding, readAzurePodIdentityException } from '../../../src/api/index.ts';

const metadata = { name: 'b', namespace: 'ns' };

describe('readAzureIdentityBinding', () => {
  it('reads the current names', () => {
    const read = readAzureIdentityBinding({ kind: 'AzureIdentityBinding', metadata, spec: { azureIdentity: 'id', selector: 'sel', weight: 3 } });
    expect(read.spec).toEqual({ azureIdentity: 'id', selector: 'sel', weight: 3 });
  });

  it.each([
    ['PascalCase', { AzureIdentity: 'id', Selector: 'sel' }],
    ['pre-v1.6 lower case', { azureidentity: 'id', selector: 'sel' }],
    ['upper case', { AZUREIDENTITY: 'id', SELECTOR: 'sel' }],
  ])('maps %s to the current names', (_label, spec) => {
    expect(readAzureIdentityBinding({ metadata, spec }).spec).toEqual({ azureIdentity: 'id', selector: 'sel' });
  });

  it('lets the current names win', () => {
    expect(readAzureIdentityBinding({ metadata, spec: { Selector: 'old', selector: 'new', azureIdentity: 'id' } }).spec.selector).toBe('new');
  });

  it("reads omitted strings as '' (Go's zero value), so callers compare without undefined checks", () => {
    expect(readAzureIdentityBinding({ metadata }).spec).toEqual({ azureIdentity: '', selector: '' });
  });

  it('keeps the selector exactly (matching is by string equality)', () => {
    expect(readAzureIdentityBinding({ metadata, spec: { selector: ' Mixed.Case ' } }).spec.selector).toBe(' Mixed.Case ');
  });

  it('reports a wrongly typed field with object and path', () => {
    expect(() => readAzureIdentityBinding({ metadata, spec: { Selector: ['a'] } })).toThrow(
      new InvalidResourceError({ kind: 'AzureIdentityBinding', namespace: 'ns', name: 'b' }, 'spec.Selector', 'must be a string, got a list'),
    );
    expect(() => readAzureIdentityBinding({ metadata, spec: { weight: 'heavy' } })).toThrow(/spec\.weight: must be an integer/);
  });
});

describe('readAzurePodIdentityException', () => {
  it('reads podLabels with exact keys', () => {
    const read = readAzurePodIdentityException({
      kind: 'AzurePodIdentityException',
      metadata,
      spec: { podLabels: { 'kubernetes.azure.com/managedby': 'aks', App: 'MIC' } },
      status: { status: '' },
    });
    expect(read.spec.podLabels).toEqual({ 'kubernetes.azure.com/managedby': 'aks', App: 'MIC' });
    expect(read.status).toEqual({ status: '' });
  });

  it('maps PodLabels to podLabels, and reads omitted labels as {}', () => {
    expect(readAzurePodIdentityException({ metadata, spec: { PodLabels: { app: 'mic' } } }).spec).toEqual({ podLabels: { app: 'mic' } });
    expect(readAzurePodIdentityException({ metadata, spec: {} }).spec).toEqual({ podLabels: {} });
  });

  it('names a non-string label value by its key', () => {
    expect(() => readAzurePodIdentityException({ metadata, spec: { podLabels: { 'app.kubernetes.io/name': 1 } } })).toThrow(
      'AzurePodIdentityException ns/b: spec.podLabels["app.kubernetes.io/name"]: must be a string, got a number',
    );
  });
});
