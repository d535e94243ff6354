import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudConfigError, parseCloudConfig } from '../../../src/azure/cloud-config.ts';
import { resolveCloud, type ResolvedCloud } from '../../../src/azure/clouds.ts';
import { createCredential, credentialKind, readConfiguredCa } from '../../../src/azure/credentials.ts';

const base = { subscriptionId: 's', resourceGroup: 'rg', tenantId: 't' };
const config = (fields: Record<string, unknown>, source = '/etc/kubernetes/azure.json') => parseCloudConfig(JSON.stringify({ ...base, ...fields }), source);

describe('createCredential', () => {
  let publicCloud: ResolvedCloud;
  beforeAll(async () => {
    publicCloud = await resolveCloud({});
  });

  it('uses the managed identity: system-assigned, or user-assigned by userAssignedIdentityID (the "msi" placeholders are ignored)', () => {
    const system = config({ useManagedIdentityExtension: true, aadClientId: 'msi', aadClientSecret: 'msi' });
    expect(credentialKind(system)).toBe('managed-identity-system-assigned');
    expect(createCredential(system, publicCloud)).toBeInstanceOf(ManagedIdentityCredential);
    const user = config({ useManagedIdentityExtension: true, userAssignedIdentityID: '66666666-6666-6666-6666-666666666666' });
    expect(credentialKind(user)).toBe('managed-identity-user-assigned');
    expect(createCredential(user, publicCloud)).toBeInstanceOf(ManagedIdentityCredential);
  });

  it('uses the service principal otherwise', async () => {
    const principal = config({ aadClientId: 'app', aadClientSecret: 'secret' });
    expect(credentialKind(principal)).toBe('service-principal-secret');
    expect(createCredential(principal, publicCloud)).toBeInstanceOf(ClientSecretCredential);
    const custom = await resolveCloud({ activeDirectoryEndpoint: 'https://login.sim.test', resourceManagerEndpoint: 'https://arm.sim.test' });
    expect(createCredential(principal, custom, { caPem: '-----BEGIN CERTIFICATE-----', additionallyAllowedTenants: ['*'] })).toBeInstanceOf(ClientSecretCredential);
  });

  it('refuses a hand-built service-principal config without its secret', () => {
    const incomplete = { ...config({ aadClientId: 'app', aadClientSecret: 'secret' }), aadClientSecret: undefined };
    expect(() => createCredential(incomplete, publicCloud)).toThrow(CloudConfigError);
  });
});

describe('readConfiguredCa', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'credentials-ca-'));
    await writeFile(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    await writeFile(path.join(dir, 'junk.pem'), 'not a certificate');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the PEM named by caFile (relative to the config file), or nothing', async () => {
    const source = path.join(dir, 'azure.json');
    await expect(readConfiguredCa(config({ useManagedIdentityExtension: true, caFile: 'ca.pem' }, source))).resolves.toContain('BEGIN CERTIFICATE');
    await expect(readConfiguredCa(config({ useManagedIdentityExtension: true }, source))).resolves.toBeUndefined();
  });

  it('names the file when it is missing or holds no certificate', async () => {
    const source = path.join(dir, 'azure.json');
    await expect(readConfiguredCa(config({ useManagedIdentityExtension: true, caFile: 'missing.pem' }, source))).rejects.toMatchObject({
      problems: [`caFile: cannot read ${path.join(dir, 'missing.pem')}: ENOENT`],
    });
    await expect(readConfiguredCa(config({ useManagedIdentityExtension: true, caFile: 'junk.pem' }, source))).rejects.toMatchObject({
      problems: [`caFile: ${path.join(dir, 'junk.pem')} holds no PEM certificate`],
    });
  });
});
