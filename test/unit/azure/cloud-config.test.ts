import { fileURLToPath } from 'node:url';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CloudConfigError,
  cloudConfigFromEnv,
  ENVIRONMENT_SOURCE,
  loadCloudConfig,
  parseCloudConfig,
  readCloudConfigFile,
  sameCloudConfig,
  type CloudConfig,
} from '../../../src/azure/cloud-config.ts';
import { watchCloudConfig } from '../../../src/azure/cloud-config-watch.ts';
import { Secret } from '../../../src/azure/secret.ts';

const EXAMPLE = fileURLToPath(new URL('../../fixtures/upstream-examples/azure.json', import.meta.url));
const SECRET = 'Sup3r~Secret.Value-42';

const servicePrincipal = {
  cloud: 'AzurePublicCloud',
  tenantId: '22222222-2222-2222-2222-222222222222',
  subscriptionId: '00000000-0000-0000-0000-000000000001',
  resourceGroup: 'MC_demo_demo_westeurope',
  location: 'westeurope',
  vmType: 'standard',
  aadClientId: '33333333-3333-3333-3333-333333333333',
  aadClientSecret: SECRET,
};

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CloudConfigError);
    return (error as CloudConfigError).problems;
  }
  throw new Error('expected a CloudConfigError');
}

describe('parseCloudConfig', () => {
  it('reads the example azure.json (managed identity; the "msi" client placeholder is kept but unused)', async () => {
    const config = parseCloudConfig(await readFile(EXAMPLE, 'utf8'), EXAMPLE);
    expect(config).toMatchObject({
      source: EXAMPLE,
      cloud: 'AzurePublicCloud',
      tenantId: '22222222-2222-2222-2222-222222222222',
      subscriptionId: '00000000-0000-0000-0000-000000000001',
      resourceGroup: 'MC_demo_demo_westeurope',
      location: 'westeurope',
      vmType: 'vmss',
      useManagedIdentityExtension: true,
      userAssignedIdentityID: '66666666-6666-6666-6666-666666666666',
      aadClientId: 'msi',
      resourceManagerEndpoint: undefined,
      activeDirectoryEndpoint: undefined,
      armAudience: undefined,
      caFile: undefined,
    });
    expect(config.aadClientSecret?.reveal()).toBe('msi');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads YAML as well, ignores unknown keys and matches key case like Go did', () => {
    const config = parseCloudConfig(
      ['Cloud: azurechinacloud', 'TENANTID: t.onmicrosoft.com', 'subscriptionId: "0123"', 'resourceGroup: rg', 'securityGroupName: nsg', 'aadClientId: app', `aadClientSecret: "${SECRET}"`].join('\n'),
      '/etc/kubernetes/azure.yaml',
    );
    expect(config).toMatchObject({ cloud: 'azurechinacloud', tenantId: 't.onmicrosoft.com', subscriptionId: '0123', resourceGroup: 'rg', useManagedIdentityExtension: false });
  });

  it('prefers the exactly spelled key over a differently cased one', () => {
    const config = parseCloudConfig(JSON.stringify({ ...servicePrincipal, ResourceGroup: 'wrong', resourceGroup: 'right' }), 'a.json');
    expect(config.resourceGroup).toBe('right');
  });

  it('takes our endpoint extensions, normalises them and resolves a relative caFile against the file', () => {
    const config = parseCloudConfig(
      JSON.stringify({ ...servicePrincipal, resourceManagerEndpoint: 'https://127.0.0.1:8443/', activeDirectoryEndpoint: 'https://localhost:9443', armAudience: 'https://management.azure.com/', caFile: 'sim-ca.pem' }),
      '/etc/pod-identity/azure.json',
    );
    expect(config).toMatchObject({
      resourceManagerEndpoint: 'https://127.0.0.1:8443',
      activeDirectoryEndpoint: 'https://localhost:9443',
      armAudience: 'https://management.azure.com/',
      caFile: '/etc/pod-identity/sim-ca.pem',
    });
  });

  it('lists every problem, naming the file and each field', () => {
    let error: unknown;
    try {
      parseCloudConfig(
        JSON.stringify({ cloud: 'AzureMoonCloud', subscriptionId: 'a/b', aadClientSecret: 12345, userAssignedIdentityID: 'not-a-guid', resourceManagerEndpoint: 'http://arm.local', useManagedIdentityExtension: 'yes' }),
        '/etc/kubernetes/azure.json',
      );
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CloudConfigError);
    const configError = error as CloudConfigError;
    expect(configError.code).toBe('PI_CLOUD_CONFIG_INVALID');
    expect(configError.source).toBe('/etc/kubernetes/azure.json');
    expect(configError.message).toMatch(/^cloud config \/etc\/kubernetes\/azure\.json: /);
    expect(configError.problems).toEqual([
      'cloud: "AzureMoonCloud" is not known; use one of AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud, AzureStackCloud',
      'useManagedIdentityExtension: must be true or false, got "yes"',
      'aadClientSecret: must be a string, got number 12345 (quote the value)',
      'tenantId: required for a service principal (useManagedIdentityExtension is not true)',
      'aadClientId: required for a service principal (useManagedIdentityExtension is not true)',
      'subscriptionId: "a/b" must not contain \'/\', \'?\', \'#\' or spaces',
      'resourceGroup: required',
      'userAssignedIdentityID: "not-a-guid" is not a GUID (client ID)',
      'resourceManagerEndpoint: "http://arm.local" must be an https URL',
    ]);
  });

  it('needs no tenant or secret for a managed identity', () => {
    const config = parseCloudConfig(JSON.stringify({ subscriptionId: 's', resourceGroup: 'rg', useManagedIdentityExtension: true }), 'a.json');
    expect(config).toMatchObject({ cloud: '', tenantId: undefined, aadClientId: undefined, aadClientSecret: undefined, userAssignedIdentityID: undefined });
  });

  it.each([
    ['', 'must be a JSON object / YAML mapping'],
    ['[1, 2]', 'must be a JSON object / YAML mapping'],
    ['{"a": ', 'not valid JSON or YAML'],
    ['a: 1\na: 2', 'not valid JSON or YAML'],
  ])('refuses %j', (text, problem) => {
    expect(problemsOf(() => parseCloudConfig(text, 'x.json'))[0]).toContain(problem);
  });
});

describe('cloudConfigFromEnv (upstream fallback)', () => {
  const env = {
    CLOUD: 'AzureUSGovernmentCloud',
    TENANT_ID: 'tenant',
    CLIENT_ID: 'client',
    CLIENT_SECRET: SECRET,
    SUBSCRIPTION_ID: 'sub',
    RESOURCE_GROUP: 'rg',
    VM_TYPE: 'vmss',
    USE_MSI: 'false',
    USER_ASSIGNED_MSI_CLIENT_ID: '',
  };

  it('reads the variables', () => {
    const config = cloudConfigFromEnv(env);
    expect(config).toMatchObject({ source: ENVIRONMENT_SOURCE, cloud: 'AzureUSGovernmentCloud', tenantId: 'tenant', aadClientId: 'client', subscriptionId: 'sub', resourceGroup: 'rg', vmType: 'vmss', useManagedIdentityExtension: false, userAssignedIdentityID: undefined });
    expect(config.aadClientSecret?.reveal()).toBe(SECRET);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    [' True ', true],
    ['1', false],
    ['yes', false],
    ['', false],
  ])('USE_MSI=%j means %s', (value, expected) => {
    expect(cloudConfigFromEnv({ SUBSCRIPTION_ID: 's', RESOURCE_GROUP: 'rg', TENANT_ID: 't', CLIENT_ID: 'c', CLIENT_SECRET: 'x', USE_MSI: value }).useManagedIdentityExtension).toBe(expected);
  });

  it('takes our extensions from AZURE_* variables', () => {
    const config = cloudConfigFromEnv({ ...env, AZURE_RESOURCE_MANAGER_ENDPOINT: 'https://arm.sim:8443/', AZURE_AUTHORITY_HOST: 'https://login.sim', AZURE_ARM_AUDIENCE: 'https://management.azure.com/', AZURE_CA_FILE: '/tmp/ca.pem' });
    expect(config).toMatchObject({ resourceManagerEndpoint: 'https://arm.sim:8443', activeDirectoryEndpoint: 'https://login.sim', armAudience: 'https://management.azure.com/', caFile: '/tmp/ca.pem' });
  });

  it('names the variables in errors', () => {
    const error = (() => {
      try {
        cloudConfigFromEnv({ USE_MSI: 'false', CLOUD: 'Mars' });
      } catch (caught) {
        return caught as CloudConfigError;
      }
      throw new Error('expected an error');
    })();
    expect(error.message).toMatch(/^cloud config from environment variables: /);
    expect(error.problems).toEqual([
      'CLOUD: "Mars" is not known; use one of AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud, AzureStackCloud',
      'TENANT_ID: required for a service principal (USE_MSI is not true)',
      'CLIENT_ID: required for a service principal (USE_MSI is not true)',
      'CLIENT_SECRET: required for a service principal (USE_MSI is not true)',
      'SUBSCRIPTION_ID: required',
      'RESOURCE_GROUP: required',
    ]);
  });

  it('is what loadCloudConfig uses without a path', async () => {
    await expect(loadCloudConfig({ path: '', env })).resolves.toMatchObject({ source: ENVIRONMENT_SOURCE, subscriptionId: 'sub' });
    await expect(loadCloudConfig({ path: EXAMPLE, env })).resolves.toMatchObject({ source: EXAMPLE, useManagedIdentityExtension: true });
  });
});

describe('the client secret never leaks', () => {
  const config = parseCloudConfig(JSON.stringify(servicePrincipal), '/etc/kubernetes/azure.json');

  it('is readable only through reveal()', () => {
    expect(config.aadClientSecret?.reveal()).toBe(SECRET);
    expect(config.aadClientSecret).toBeInstanceOf(Secret);
    expect(Object.keys(config.aadClientSecret ?? {})).toEqual([]);
  });

  it('not in JSON, util.inspect, string conversion, spreading or structuredClone', () => {
    const renderings = [
      JSON.stringify(config),
      JSON.stringify({ nested: { config } }),
      inspect(config, { depth: 10, showHidden: true }),
      inspect({ ...config }, { depth: 10 }),
      `${String(config.aadClientSecret)} ${config.aadClientSecret?.toString() ?? ''}`,
      `secret=${config.aadClientSecret as unknown as string}`,
      JSON.stringify(structuredClone({ ...config, aadClientSecret: undefined })),
    ];
    for (const text of renderings) expect(text).not.toContain(SECRET);
    expect(JSON.parse(JSON.stringify(config))).toMatchObject({ aadClientSecret: '[redacted]', aadClientId: servicePrincipal.aadClientId });
  });

  it('not in pino output, as a field or the whole config', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    logger.info({ config }, 'loaded');
    logger.info(config, 'loaded flat');
    logger.info({ secret: config.aadClientSecret }, 'field');
    logger.info(`templated ${config.aadClientSecret as unknown as string}`);
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line).not.toContain(SECRET);
    expect(lines.join('')).toContain('[redacted]');
  });

  it('not in error messages of a config that fails to parse', () => {
    const error = (() => {
      try {
        parseCloudConfig(JSON.stringify({ ...servicePrincipal, resourceGroup: '' }), 'a.json');
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('expected an error');
    })();
    expect(`${error.message} ${inspect(error)} ${JSON.stringify(error)}`).not.toContain(SECRET);
  });
});

describe('readCloudConfigFile and sameCloudConfig', () => {
  it('reports an unreadable file as a CloudConfigError naming it', async () => {
    await expect(readCloudConfigFile('/nonexistent/azure.json')).rejects.toMatchObject({ source: '/nonexistent/azure.json', problems: ['cannot read: ENOENT'] });
  });

  it('compares every field, the secret included', () => {
    const a = parseCloudConfig(JSON.stringify(servicePrincipal), 'a.json');
    expect(sameCloudConfig(a, parseCloudConfig(JSON.stringify(servicePrincipal), 'a.json'))).toBe(true);
    expect(sameCloudConfig(a, parseCloudConfig(JSON.stringify({ ...servicePrincipal, aadClientSecret: 'rotated' }), 'a.json'))).toBe(false);
    expect(sameCloudConfig(a, parseCloudConfig(JSON.stringify({ ...servicePrincipal, location: 'eastus' }), 'a.json'))).toBe(false);
  });
});

describe('watchCloudConfig', () => {
  let dir: string;
  let file: string;
  let controller: AbortController;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cloud-config-watch-'));
    file = path.join(dir, 'azure.json');
    controller = new AbortController();
  });

  afterEach(async () => {
    controller.abort();
    await rm(dir, { recursive: true, force: true });
  });

  /** Resolves with the next value pushed to `queue`, or rejects after `ms`. */
  function next<T>(queue: T[], waiters: ((value: T) => void)[], ms = 5_000): Promise<T> {
    const queued = queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('timed out waiting for the watcher'));
      }, ms);
      waiters.push((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  }

  it('reports changes (in place and by rename), keeps the previous config when the file breaks, and stops on abort', async () => {
    await writeFile(file, JSON.stringify(servicePrincipal));
    const initial = await readCloudConfigFile(file);
    const changes: CloudConfig[] = [];
    const changeWaiters: ((config: CloudConfig) => void)[] = [];
    const errors: Error[] = [];
    const errorWaiters: ((error: Error) => void)[] = [];
    const watching = watchCloudConfig(
      file,
      (config) => {
        const waiter = changeWaiters.shift();
        if (waiter === undefined) changes.push(config);
        else waiter(config);
      },
      controller.signal,
      {
        current: initial,
        debounceMs: 20,
        resyncIntervalMs: 0,
        onError: (error) => {
          const waiter = errorWaiters.shift();
          if (waiter === undefined) errors.push(error);
          else waiter(error);
        },
      },
    );

    await writeFile(file, JSON.stringify({ ...servicePrincipal, aadClientSecret: 'rotated-secret' }));
    const rotated = await next(changes, changeWaiters);
    expect(rotated.aadClientSecret?.reveal()).toBe('rotated-secret');

    await writeFile(file, '{"subscriptionId": ');
    const broken = await next(errors, errorWaiters);
    expect(broken).toBeInstanceOf(CloudConfigError);
    expect(broken.message).toContain(file);

    // Atomic replace (write elsewhere, rename over): how editors and volume updates change files.
    const staged = path.join(dir, '.azure.json.tmp');
    await writeFile(staged, JSON.stringify({ ...servicePrincipal, resourceGroup: 'MC_other' }));
    await rename(staged, file);
    const replaced = await next(changes, changeWaiters);
    expect(replaced).toMatchObject({ resourceGroup: 'MC_other' });
    expect(changes).toEqual([]);

    controller.abort();
    await watching;
  });

  it('reports the first good read when no current config is given', async () => {
    await writeFile(file, JSON.stringify(servicePrincipal));
    const seen = new Promise<CloudConfig>((resolve) => {
      void watchCloudConfig(file, resolve, controller.signal, { debounceMs: 10, resyncIntervalMs: 0 });
    });
    await expect(seen).resolves.toMatchObject({ resourceGroup: servicePrincipal.resourceGroup });
  });
});
