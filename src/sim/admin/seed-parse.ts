/**
 * Validation of `POST /seed/...` bodies: every problem is reported at once, with its field.
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { readFederatedCredential } from './federated-credential-fields.ts';
import { Fields, GUID, InvalidInputError, NAME } from './fields.ts';
import { IDENTITY_ID } from './resource-ids.ts';
import type { FederatedCredentialSeed, IdentitySeed, ResourceGroupSeed, RoleAssignmentSeed, ServicePrincipalSeed, VmSeed, VmssSeed } from './seeds.ts';

const NAME_HINT = 'a name (no /, ?, # or spaces)';
/** Largest scale set a seed may create (Azure's own limit per scale set is 1000). */
export const MAX_SEED_INSTANCES = 1000;

function parse<T>(what: string, body: unknown, read: (fields: Fields) => T): T {
  const problems: string[] = [];
  const fields = Fields.of(body, '', problems);
  const value = fields === undefined ? undefined : read(fields);
  if (problems.length > 0 || value === undefined) throw new InvalidInputError(what, problems);
  return value;
}

function readGroup(f: Fields): { subscriptionId: string; resourceGroup: string } {
  return { subscriptionId: f.requiredString('subscriptionId', NAME, NAME_HINT), resourceGroup: f.requiredString('resourceGroup', NAME, NAME_HINT) };
}

function readCommon(f: Fields): { location?: string; tags?: Record<string, string> } {
  const location = f.string('location', NAME, NAME_HINT);
  const tags = f.stringRecord('tags');
  return { ...(location !== undefined ? { location } : {}), ...(tags !== undefined ? { tags } : {}) };
}

function readComputeIdentities(f: Fields): { identities?: string[]; systemAssigned?: boolean; vmSize?: string } {
  const identities = f.stringArray('identities', IDENTITY_ID, 'a user-assigned identity resource ID');
  const systemAssigned = f.boolean('systemAssigned');
  const vmSize = f.string('vmSize', NAME, NAME_HINT);
  return {
    ...(identities !== undefined ? { identities } : {}),
    ...(systemAssigned !== undefined ? { systemAssigned } : {}),
    ...(vmSize !== undefined ? { vmSize } : {}),
  };
}

export function parseResourceGroupSeed(body: unknown): ResourceGroupSeed {
  return parse('invalid resource group seed', body, (f) => {
    f.onlyKnown(['subscriptionId', 'resourceGroup']);
    const subscriptionId = f.string('subscriptionId', NAME, NAME_HINT);
    return { ...(subscriptionId !== undefined ? { subscriptionId } : {}), resourceGroup: f.requiredString('resourceGroup', NAME, NAME_HINT) };
  });
}

export function parseIdentitySeed(body: unknown): IdentitySeed {
  return parse('invalid identity seed', body, (f) => {
    f.onlyKnown(['subscriptionId', 'resourceGroup', 'name', 'location', 'tags', 'clientId', 'principalId']);
    const clientId = f.guid('clientId');
    const principalId = f.guid('principalId');
    return {
      ...readGroup(f),
      name: f.requiredString('name', NAME, NAME_HINT),
      ...readCommon(f),
      ...(clientId !== undefined ? { clientId } : {}),
      ...(principalId !== undefined ? { principalId } : {}),
    };
  });
}

export function parseVmSeed(body: unknown): VmSeed {
  return parse('invalid VM seed', body, (f) => {
    f.onlyKnown(['subscriptionId', 'resourceGroup', 'name', 'location', 'tags', 'vmSize', 'identities', 'systemAssigned']);
    return { ...readGroup(f), name: f.requiredString('name', NAME, NAME_HINT), ...readCommon(f), ...readComputeIdentities(f) };
  });
}

export function parseVmssSeed(body: unknown): VmssSeed {
  return parse('invalid VMSS seed', body, (f) => {
    f.onlyKnown(['subscriptionId', 'resourceGroup', 'name', 'pool', 'instances', 'location', 'tags', 'vmSize', 'identities', 'systemAssigned']);
    const name = f.string('name', NAME, NAME_HINT);
    const pool = f.string('pool', /^[a-z][a-z0-9]{0,11}$/, 'an AKS pool name (lower-case letters and digits, at most 12)');
    const instances = f.integer('instances', 0, MAX_SEED_INSTANCES);
    if (name !== undefined && pool !== undefined) f.problem('pool', 'give either name or pool, not both');
    return {
      ...readGroup(f),
      ...(name !== undefined ? { name } : {}),
      ...(pool !== undefined ? { pool } : {}),
      ...(instances !== undefined ? { instances } : {}),
      ...readCommon(f),
      ...readComputeIdentities(f),
    };
  });
}

export function parseServicePrincipalSeed(body: unknown): ServicePrincipalSeed {
  return parse('invalid service principal seed', body, (f) => {
    f.onlyKnown(['displayName', 'appId', 'objectId', 'secret', 'certificatePem']);
    const displayName = f.string('displayName');
    const appId = f.guid('appId');
    const objectId = f.guid('objectId');
    let secret: string | true | undefined;
    const rawSecret = f.input['secret'];
    if (rawSecret === true) secret = true;
    else if (rawSecret !== undefined) secret = f.string('secret');
    const certificatePem = f.string('certificatePem');
    if (certificatePem !== undefined) {
      try {
        new X509Certificate(certificatePem);
      } catch (error) {
        f.problem('certificatePem', `is not a PEM certificate (${(error as Error).message})`);
      }
    }
    return {
      ...(displayName !== undefined ? { displayName } : {}),
      ...(appId !== undefined ? { appId } : {}),
      ...(objectId !== undefined ? { objectId } : {}),
      ...(secret !== undefined ? { secret } : {}),
      ...(certificatePem !== undefined ? { certificatePem } : {}),
    };
  });
}

export function parseRoleAssignmentSeed(body: unknown): RoleAssignmentSeed {
  return parse('invalid role assignment seed', body, (f) => {
    f.onlyKnown(['scope', 'role', 'principalId', 'principalType', 'name', 'description']);
    const principalType = f.string('principalType', /^(ServicePrincipal|User|Group|ForeignGroup|Device)$/, 'ServicePrincipal, User, Group, ForeignGroup or Device');
    const name = f.guid('name');
    const description = f.string('description');
    return {
      scope: f.requiredString('scope', /^\/([^?#\s]*)$/, 'an ARM scope starting with /'),
      role: f.requiredString('role'),
      principalId: f.requiredString('principalId', GUID, 'a GUID'),
      ...(principalType !== undefined ? { principalType } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(description !== undefined ? { description } : {}),
    };
  });
}

export function parseFederatedCredentialSeed(body: unknown): FederatedCredentialSeed {
  return parse('invalid federated credential seed', body, (f) => {
    const identityId = f.requiredString('identityId', IDENTITY_ID, 'a user-assigned identity resource ID');
    // The credential's own fields, read (and checked) as in a state file.
    const credentialFields = Object.fromEntries(Object.entries(f.input).filter(([name]) => name !== 'identityId'));
    return { identityId, ...readFederatedCredential(new Fields(credentialFields, f.path, f.problems)) };
  });
}
