import { describe, expect, it } from 'vitest';
import { CloudResolutionError, parseEnvironmentFile, resolveCloud, scopeForAudience } from '../../../src/azure/clouds.ts';

const STACK_FILE = '/etc/kubernetes/akscustom.json';
/** A go-autorest environment file as AKS engine writes it for Azure Stack (Go matched keys case-insensitively). */
const stackEnvironment = JSON.stringify({
  name: 'AzureStackCloud',
  managementPortalURL: 'https://portal.local.azurestack.external/',
  serviceManagementEndpoint: 'https://management.azurestackci04.onmicrosoft.com/0a1b2c3d',
  ResourceManagerEndpoint: 'https://management.local.azurestack.external/',
  activeDirectoryEndpoint: 'https://login.microsoftonline.com/',
  TOKENAUDIENCE: 'https://management.azurestackci04.onmicrosoft.com/0a1b2c3d',
  resourceManagerVMDNSSuffix: 'cloudapp.azurestack.external',
});

const readStack = (path: string): Promise<string> => (path === STACK_FILE ? Promise.resolve(stackEnvironment) : Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' })));

describe('resolveCloud', () => {
  it.each([
    ['', 'AzurePublicCloud', 'https://management.azure.com', 'https://login.microsoftonline.com', 'https://management.azure.com/'],
    ['AzurePublicCloud', 'AzurePublicCloud', 'https://management.azure.com', 'https://login.microsoftonline.com', 'https://management.azure.com/'],
    ['azurecloud', 'AzurePublicCloud', 'https://management.azure.com', 'https://login.microsoftonline.com', 'https://management.azure.com/'],
    ['AZURECHINACLOUD', 'AzureChinaCloud', 'https://management.chinacloudapi.cn', 'https://login.chinacloudapi.cn', 'https://management.chinacloudapi.cn/'],
    ['AzureUSGovernmentCloud', 'AzureUSGovernmentCloud', 'https://management.usgovcloudapi.net', 'https://login.microsoftonline.us', 'https://management.usgovcloudapi.net/'],
    ['azureusgovernment', 'AzureUSGovernmentCloud', 'https://management.usgovcloudapi.net', 'https://login.microsoftonline.us', 'https://management.usgovcloudapi.net/'],
  ])('%j is %s', async (cloud, name, resourceManagerEndpoint, authorityHost, armAudience) => {
    const resolved = await resolveCloud({ cloud });
    expect(resolved).toEqual({ name, resourceManagerEndpoint, authorityHost, armAudience, armScope: `${armAudience}.default`, knownAuthorityHost: true });
    expect(Object.isFrozen(resolved)).toBe(true);
  });

  it('reads AzureStackCloud from AZURE_ENVIRONMENT_FILEPATH (any name casing, any key casing)', async () => {
    const resolved = await resolveCloud({ cloud: 'azurestackcloud' }, { env: { AZURE_ENVIRONMENT_FILEPATH: STACK_FILE }, readFile: readStack });
    expect(resolved).toEqual({
      name: 'AzureStackCloud',
      resourceManagerEndpoint: 'https://management.local.azurestack.external',
      authorityHost: 'https://login.microsoftonline.com',
      armAudience: 'https://management.azurestackci04.onmicrosoft.com/0a1b2c3d',
      armScope: 'https://management.azurestackci04.onmicrosoft.com/0a1b2c3d/.default',
      knownAuthorityHost: true,
    });
  });

  it('lets the config override endpoints and audience; an unknown authority host needs instance discovery off', async () => {
    const resolved = await resolveCloud({ cloud: 'AzurePublicCloud', resourceManagerEndpoint: 'https://127.0.0.1:8443/', activeDirectoryEndpoint: 'https://localhost:9443/' });
    expect(resolved).toEqual({
      name: 'AzurePublicCloud',
      resourceManagerEndpoint: 'https://127.0.0.1:8443',
      authorityHost: 'https://localhost:9443',
      armAudience: 'https://management.azure.com/',
      armScope: 'https://management.azure.com/.default',
      knownAuthorityHost: false,
    });
    expect((await resolveCloud({ armAudience: 'https://management.core.windows.net/' })).armScope).toBe('https://management.core.windows.net/.default');
  });

  it.each([
    [{ cloud: 'AzureMoonCloud' }, {}, /cloud "AzureMoonCloud" is not known; use one of AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud, AzureStackCloud/],
    [{ cloud: 'AzureGermanCloud' }, {}, /retired in October 2021/],
    [{ cloud: 'AzureStackCloud' }, { env: {} }, /AZURE_ENVIRONMENT_FILEPATH must name the Azure Stack environment file/],
    [{ cloud: 'AzureStackCloud' }, { env: { AZURE_ENVIRONMENT_FILEPATH: '/missing.json' }, readFile: readStack }, /cannot read Azure environment file \/missing\.json .*ENOENT/],
    [{ resourceManagerEndpoint: 'http://localhost:8080' }, {}, /resourceManagerEndpoint: "http:\/\/localhost:8080" must be an https URL/],
    [{ activeDirectoryEndpoint: 'login' }, {}, /activeDirectoryEndpoint: "login" is not a URL/],
  ])('refuses %j', async (overrides, options, message) => {
    const failure = resolveCloud(overrides, options);
    await expect(failure).rejects.toBeInstanceOf(CloudResolutionError);
    await expect(failure).rejects.toThrow(message);
  });
});

describe('parseEnvironmentFile', () => {
  it('lists what is missing', () => {
    expect(() => parseEnvironmentFile(JSON.stringify({ name: 'x', resourceManagerEndpoint: 5 }), 'env.json')).toThrow(
      'Azure environment file env.json: resourceManagerEndpoint: must be a string; activeDirectoryEndpoint: required; tokenAudience: required',
    );
    expect(() => parseEnvironmentFile('nope', 'env.json')).toThrow(/env\.json: not valid JSON/);
    expect(() => parseEnvironmentFile('[]', 'env.json')).toThrow(/must be a JSON object/);
  });

  it('defaults the name', () => {
    expect(parseEnvironmentFile(JSON.stringify({ resourceManagerEndpoint: 'https://a', activeDirectoryEndpoint: 'https://b', tokenAudience: 'c' }), 'f').name).toBe('AzureStackCloud');
  });
});

describe('scopeForAudience', () => {
  it.each([
    ['https://management.azure.com/', 'https://management.azure.com/.default'],
    ['https://management.azure.com', 'https://management.azure.com/.default'],
    ['https://management.adfs.azurestack.local/0a1b', 'https://management.adfs.azurestack.local/0a1b/.default'],
  ])('%s → %s', (audience, scope) => {
    expect(scopeForAudience(audience)).toBe(scope);
  });
});
