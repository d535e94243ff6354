/**
 * The simulated ARM against unmodified Azure SDK clients over HTTPS (per-run CA): @azure/arm-msi
 * creates identities, @azure/arm-authorization assigns roles, @azure/arm-compute adds and removes
 * identities on a VM and a scale set through real long-running operations; faults surface as the
 * SDKs' normal errors. Every step is checked against the simulator's store too, so these tests fail
 * if the simulator only echoed requests.
 */
import { randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ComputeManagementClient, type UserAssignedIdentitiesValue } from '@azure/arm-compute';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import type { TokenCredential } from '@azure/core-auth';
import { isRestError, type RestError } from '@azure/core-rest-pipeline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requestText } from '../../src/lib/http-request.ts';
import { ROLE_IDS } from '../../src/sim/arm/index.ts';
import { startAzureSimulator, type AzureSimulator } from '../../src/sim/simulator.ts';
import type { ResourceIdentity } from '../../src/sim/state/model.ts';
import { TokenIssuer } from '../../src/sim/tokens/issuer.ts';

const TENANT = randomUUID();
const SUB = randomUUID();
const NODES = 'rg-nodes';
const IDS = 'rg-identities';
const RG_ID = `/subscriptions/${SUB}/resourceGroups/${NODES}`;
const IDS_RG_ID = `/subscriptions/${SUB}/resourceGroups/${IDS}`;
const VM_ID = `${RG_ID}/providers/Microsoft.Compute/virtualMachines/node-1`;
const VMSS_ID = `${RG_ID}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss`;
const uamiId = (name: string): string => `${IDS_RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const MIC = { objectId: randomUUID(), appId: randomUUID() };
const ADMIN = { objectId: randomUUID(), appId: randomUUID() };
const SYSTEM = { principalId: randomUUID(), clientId: randomUUID() };
const POLL = { updateIntervalInMs: 25 };

/**
 * `{ [id]: null }`: PATCH's "remove this identity". The SDK's types have no null values, but its
 * serialiser passes null through unchanged (azure-protocols.md §3.2), which is what callers rely on.
 */
const removal = (id: string): Record<string, UserAssignedIdentitiesValue> => ({ [id]: null }) as unknown as Record<string, UserAssignedIdentitiesValue>;

/**
 * The SDKs' error for an ARM error body. By name, not `instanceof`: arm-authorization carries its
 * own copy of core-rest-pipeline, hence its own RestError class.
 */
function restError(error: unknown): RestError {
  if (!isRestError(error)) throw new Error(`expected a RestError, got ${String(error)}`);
  return error;
}

async function failure(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe('simulated ARM with @azure/arm-compute, @azure/arm-msi and @azure/arm-authorization', () => {
  let sim: AzureSimulator;
  let compute: ComputeManagementClient;
  let msi: ManagedServiceIdentityClient;
  let authorization: AuthorizationManagementClient;
  let adminAuthorization: AuthorizationManagementClient;

  /** A TokenCredential handing out a token our simulated Entra ID signed for `principal`. */
  const credentialFor = (principal: { objectId: string; appId: string }, issuer?: TokenIssuer): TokenCredential => ({
    getToken: async () => {
      const signed = await (issuer ?? sim.issuer).sign(
        { aud: 'https://management.azure.com', iss: `https://sts.windows.net/${sim.tenantId}/`, tid: sim.tenantId, oid: principal.objectId, sub: principal.objectId, appid: principal.appId, idtyp: 'app' },
        3600,
      );
      return { token: signed.token, expiresOnTimestamp: signed.expiresOn * 1000 };
    },
  });
  const clientOptions = () => ({ endpoint: sim.armUrl, tlsOptions: { ca: sim.caPem } });
  // AutoRest clients derive their scope from the endpoint unless told (azure-protocols.md §7).
  const autorestOptions = () => ({ ...clientOptions(), credentialScopes: ['https://management.azure.com/.default'] });
  const identityOf = (id: string): ResourceIdentity | undefined => sim.store.getCompute(id)?.identity;

  beforeAll(async () => {
    sim = await startAzureSimulator({
      tenantId: TENANT,
      lroDurationMs: { vm: 200, vmss: 400 },
      state: {
        subscriptions: [SUB],
        resourceGroups: [RG_ID, IDS_RG_ID],
        servicePrincipals: [
          { appId: MIC.appId, objectId: MIC.objectId, tenantId: TENANT, displayName: 'mic', secrets: [], certificatesPem: [] },
          { appId: ADMIN.appId, objectId: ADMIN.objectId, tenantId: TENANT, displayName: 'admin', secrets: [], certificatesPem: [] },
        ],
        roleAssignments: [
          {
            id: `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}`,
            name: randomUUID(),
            scope: '/',
            roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.owner}`,
            principalId: ADMIN.objectId,
            principalType: 'ServicePrincipal',
            createdOn: new Date().toISOString(),
          },
        ],
        virtualMachines: [
          {
            kind: 'vm',
            id: VM_ID,
            name: 'node-1',
            subscriptionId: SUB,
            resourceGroup: NODES,
            location: 'westeurope',
            tags: {},
            vmSize: 'Standard_D2s_v3',
            provisioningState: 'Succeeded',
            vmId: randomUUID(),
            identity: { type: 'SystemAssigned', userAssignedIdentities: [], systemAssigned: { ...SYSTEM, tenantId: TENANT } },
          },
        ],
        scaleSets: [
          {
            kind: 'vmss',
            id: VMSS_ID,
            name: 'aks-pool-vmss',
            subscriptionId: SUB,
            resourceGroup: NODES,
            location: 'westeurope',
            tags: {},
            vmSize: 'Standard_D2s_v3',
            provisioningState: 'Succeeded',
            identity: { type: 'None', userAssignedIdentities: [] },
            instances: [0, 1].map((index) => ({ instanceId: String(index), computerName: `aks-pool-vmss00000${index}`, vmId: randomUUID() })),
          },
        ],
      },
    });
    const mic = credentialFor(MIC);
    compute = new ComputeManagementClient(mic, SUB, clientOptions());
    msi = new ManagedServiceIdentityClient(mic, SUB, autorestOptions());
    authorization = new AuthorizationManagementClient(mic, SUB, autorestOptions());
    adminAuthorization = new AuthorizationManagementClient(credentialFor(ADMIN), SUB, autorestOptions());
  });

  afterAll(async () => {
    await sim.stop();
  });

  afterEach(() => {
    sim.settings.update({ enforceRbac: false });
  });

  /** Creates identity `name` through arm-msi and returns what the SDK saw. */
  const createIdentity = (name: string) => msi.userAssignedIdentities.createOrUpdate(IDS, name, { location: 'westeurope', tags: { app: name } });

  it('creates, reads and lists user-assigned identities (arm-msi)', async () => {
    const created = await createIdentity('app-a');
    expect(created).toMatchObject({ id: uamiId('app-a'), name: 'app-a', type: 'Microsoft.ManagedIdentity/userAssignedIdentities', location: 'westeurope', tenantId: sim.tenantId });
    expect(created.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sim.store.getIdentity(uamiId('app-a'))).toMatchObject({ clientId: created.clientId, principalId: created.principalId, tenantId: sim.tenantId, tags: { app: 'app-a' } });

    await createIdentity('app-b');
    await createIdentity('app-c');
    const got = await msi.userAssignedIdentities.get(IDS, 'app-a');
    expect({ clientId: got.clientId, principalId: got.principalId, tenantId: got.tenantId }).toEqual({ clientId: created.clientId, principalId: created.principalId, tenantId: sim.tenantId });

    const inGroup: string[] = [];
    for await (const identity of msi.userAssignedIdentities.listByResourceGroup(IDS)) inGroup.push(identity.name ?? '');
    expect(inGroup.sort()).toEqual(['app-a', 'app-b', 'app-c']);
    const inSubscription: string[] = [];
    for await (const identity of msi.userAssignedIdentities.listBySubscription()) inSubscription.push(identity.name ?? '');
    expect(inSubscription).toHaveLength(3);

    const missing = restError(await failure(msi.userAssignedIdentities.get(IDS, 'nope')));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('ResourceNotFound');
  });

  it('assigns a role (arm-authorization) and reports RoleAssignmentExists as a 409 RestError', async () => {
    const principalId = sim.store.getIdentity(uamiId('app-a'))?.principalId ?? '';
    const roleDefinition = await authorization.roleDefinitions.get(`/subscriptions/${SUB}`, ROLE_IDS.reader);
    expect(roleDefinition).toMatchObject({ roleName: 'Reader', roleType: 'BuiltInRole', id: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.reader}` });

    const name = randomUUID();
    const assignment = await authorization.roleAssignments.create(RG_ID, name, { roleDefinitionId: roleDefinition.id ?? '', principalId, principalType: 'ServicePrincipal' });
    expect(assignment).toMatchObject({ name, scope: RG_ID, principalId, roleDefinitionId: roleDefinition.id });
    expect(sim.store.listRoleAssignments().filter((stored) => stored.principalId === principalId)).toMatchObject([{ name, scope: RG_ID }]);

    const duplicate = restError(await failure(authorization.roleAssignments.create(RG_ID, randomUUID(), { roleDefinitionId: roleDefinition.id ?? '', principalId })));
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.code).toBe('RoleAssignmentExists');
    expect(duplicate.message).toBe('The role assignment already exists.');

    const listed: string[] = [];
    for await (const found of authorization.roleAssignments.listForScope(RG_ID, { filter: 'atScope()' })) listed.push(found.name ?? '');
    expect(listed).toContain(name);

    const unknown = restError(await failure(authorization.roleAssignments.create(RG_ID, randomUUID(), { roleDefinitionId: roleDefinition.id ?? '', principalId: randomUUID() })));
    expect([unknown.statusCode, unknown.code]).toEqual([400, 'PrincipalNotFound']);
    const badName = restError(await failure(authorization.roleAssignments.create(RG_ID, 'not-a-guid', { roleDefinitionId: roleDefinition.id ?? '', principalId })));
    expect([badName.statusCode, badName.code]).toEqual([400, 'InvalidRoleAssignmentId']);
  });

  it('adds two identities to a VM with {} and removes one with null; the system-assigned identity survives; then SystemAssigned and None', async () => {
    const [a, b] = [uamiId('app-a'), uamiId('app-b')];
    const added = await compute.virtualMachines.update(NODES, 'node-1', { identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [a]: {}, [b]: {} } } }, POLL);
    expect(added.provisioningState).toBe('Succeeded');
    expect(added.identity?.type).toBe('SystemAssigned, UserAssigned');
    expect(added.identity?.principalId).toBe(SYSTEM.principalId);
    expect(added.identity?.tenantId).toBe(TENANT);
    expect(added.identity?.userAssignedIdentities?.[a]).toEqual({ principalId: sim.store.getIdentity(a)?.principalId, clientId: sim.store.getIdentity(a)?.clientId });
    expect(identityOf(VM_ID)).toMatchObject({ type: 'SystemAssigned, UserAssigned', userAssignedIdentities: [a, b], systemAssigned: { principalId: SYSTEM.principalId } });

    // The SDK sends `null` through unchanged; PATCH merges: only app-b goes. The key is lower-cased as MIC does.
    const removed = await compute.virtualMachines.update(NODES, 'node-1', { identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: removal(b.toLowerCase()) } }, POLL);
    expect(Object.keys(removed.identity?.userAssignedIdentities ?? {})).toEqual([a]);
    expect(identityOf(VM_ID)).toMatchObject({ userAssignedIdentities: [a], systemAssigned: { principalId: SYSTEM.principalId } });

    const systemOnly = await compute.virtualMachines.update(NODES, 'node-1', { identity: { type: 'SystemAssigned' } }, POLL);
    expect(systemOnly.identity).toMatchObject({ type: 'SystemAssigned', principalId: SYSTEM.principalId });
    expect(identityOf(VM_ID)).toMatchObject({ type: 'SystemAssigned', userAssignedIdentities: [] });

    const none = await compute.virtualMachines.update(NODES, 'node-1', { identity: { type: 'None' } }, POLL);
    expect(none.identity).toBeUndefined();
    expect(identityOf(VM_ID)).toEqual({ type: 'None', userAssignedIdentities: [] });
    const read = await compute.virtualMachines.get(NODES, 'node-1');
    expect(read.identity).toBeUndefined();
  });

  it('adds two identities to a scale set and removes one; instances are listed with their computer names; then None', async () => {
    const [a, b] = [uamiId('app-a'), uamiId('app-b')];
    const added = await compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', { identity: { type: 'UserAssigned', userAssignedIdentities: { [a]: {}, [b]: {} } } }, POLL);
    expect(added.provisioningState).toBe('Succeeded');
    expect(Object.keys(added.identity?.userAssignedIdentities ?? {}).sort()).toEqual([a, b]);
    expect(identityOf(VMSS_ID)).toEqual({ type: 'UserAssigned', userAssignedIdentities: [a, b] });

    const removed = await compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', { identity: { type: 'UserAssigned', userAssignedIdentities: removal(a) } }, POLL);
    expect(Object.keys(removed.identity?.userAssignedIdentities ?? {})).toEqual([b]);
    expect(identityOf(VMSS_ID)).toEqual({ type: 'UserAssigned', userAssignedIdentities: [b] });

    const names: string[] = [];
    for await (const instance of compute.virtualMachineScaleSetVMs.list(NODES, 'aks-pool-vmss')) names.push(instance.osProfile?.computerName ?? '');
    expect(names).toEqual(['aks-pool-vmss000000', 'aks-pool-vmss000001']);

    await compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', { identity: { type: 'None' } }, POLL);
    expect(identityOf(VMSS_ID)).toEqual({ type: 'None', userAssignedIdentities: [] });
  });

  it('creates a VM with an identity (PUT, 201 Creating → Succeeded) and deletes it (202 → gone), both as LROs', async () => {
    const a = uamiId('app-a');
    const created = await compute.virtualMachines.createOrUpdate(
      NODES,
      'node-2',
      { location: 'westeurope', hardwareProfile: { vmSize: 'Standard_B2s' }, identity: { type: 'UserAssigned', userAssignedIdentities: { [a]: {} } } },
      POLL,
    );
    expect(created).toMatchObject({ name: 'node-2', provisioningState: 'Succeeded', hardwareProfile: { vmSize: 'Standard_B2s' } });
    const id = `${RG_ID}/providers/Microsoft.Compute/virtualMachines/node-2`;
    expect(sim.store.getCompute(id)).toMatchObject({ provisioningState: 'Succeeded', vmSize: 'Standard_B2s', identity: { type: 'UserAssigned', userAssignedIdentities: [a] } });

    const names: string[] = [];
    for await (const vm of compute.virtualMachines.list(NODES)) names.push(vm.name ?? '');
    expect(names.sort()).toEqual(['node-1', 'node-2']);

    await compute.virtualMachines.delete(NODES, 'node-2', POLL);
    expect(sim.store.getCompute(id)).toBeUndefined();
    const gone = restError(await failure(compute.virtualMachines.get(NODES, 'node-2')));
    expect([gone.statusCode, gone.code]).toEqual([404, 'ResourceNotFound']);
  });

  it('rejects an identity that does not exist with 400 FailedIdentityOperation, changing nothing', async () => {
    const ghost = uamiId('Ghost');
    const error = restError(await failure(compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', { identity: { type: 'UserAssigned', userAssignedIdentities: { [ghost]: {} } } }, POLL)));
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('FailedIdentityOperation');
    expect(error.message).toBe(
      `Identity operation for resource '${VMSS_ID}' failed with error 'Failed to perform resource identity operation. Status: 'BadRequest'. Response: '{"error":{"code":"BadRequest","message":"Resource '${ghost.toLowerCase()}' was not found."}}'.'.`,
    );
    expect(identityOf(VMSS_ID)?.type).toBe('None');
  });

  it('rejects more than 150 identity changes in one request', async () => {
    const many = Object.fromEntries(Array.from({ length: 151 }, (_, index) => [uamiId(`bulk-${index}`), {}]));
    const error = restError(await failure(compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', { identity: { type: 'UserAssigned', userAssignedIdentities: many } }, POLL)));
    expect([error.statusCode, error.code]).toEqual([400, 'FailedIdentityOperation']);
    expect(error.message).toContain("User Assigned Identities Number '151' Assign exceed limit '150' in one request.");
  });

  it('answers 409 to a write while an operation runs on the same resource', async () => {
    const first = compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', { identity: { type: 'UserAssigned', userAssignedIdentities: { [uamiId('app-a')]: {} } } }, POLL);
    await first.submitted();
    const conflict = restError(await failure(compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', { identity: { type: 'UserAssigned', userAssignedIdentities: { [uamiId('app-b')]: {} } } }, POLL)));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.code).toBe('Conflict');
    expect(conflict.message).toContain('conflict with a concurrent request');
    await first;
    expect(identityOf(VMSS_ID)).toEqual({ type: 'UserAssigned', userAssignedIdentities: [uamiId('app-a')] });
  });

  it('fails the operation when the identity being added is deleted mid-flight; the poller throws and the identities stay as they were', async () => {
    const poller = compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', { identity: { type: 'UserAssigned', userAssignedIdentities: { [uamiId('app-c')]: {} } } }, POLL);
    await poller.submitted();
    await msi.userAssignedIdentities.delete(IDS, 'app-c');
    expect(sim.store.getIdentity(uamiId('app-c'))).toBeUndefined();
    const error = await failure(poller);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('The long-running operation has failed. FailedIdentityOperation.');
    expect((error as Error).message).toContain(`Resource '${uamiId('app-c').toLowerCase()}' was not found.`);
    expect(identityOf(VMSS_ID)).toEqual({ type: 'UserAssigned', userAssignedIdentities: [uamiId('app-a')] });
    expect(sim.store.getCompute(VMSS_ID)?.provisioningState).toBe('Failed');
  });

  it('answers 401 without a token, and to a token the simulated Entra ID did not sign', async () => {
    const raw = await requestText(httpsRequest(`${sim.armUrl}${VM_ID}?api-version=2026-04-01`, { ca: sim.caPem, agent: false }));
    expect(raw.status).toBe(401);
    expect(JSON.parse(raw.body)).toEqual({ error: { code: 'AuthenticationFailed', message: "Authentication failed. The 'Authorization' header is missing." } });
    expect(raw.headers['www-authenticate']).toContain('error="invalid_token"');

    const forged = new ComputeManagementClient(credentialFor(MIC, TokenIssuer.create()), SUB, clientOptions());
    const error = restError(await failure(forged.virtualMachines.get(NODES, 'node-1')));
    expect([error.statusCode, error.code]).toEqual([401, 'InvalidAuthenticationToken']);
  });

  it('with RBAC enforced: 403 LinkedAuthorizationFailed without Managed Identity Operator, success once it is granted', async () => {
    sim.settings.update({ enforceRbac: true });
    const add = { identity: { type: 'UserAssigned' as const, userAssignedIdentities: { [uamiId('app-b')]: {} } } };

    const noWrite = restError(await failure(compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', add, POLL)));
    expect([noWrite.statusCode, noWrite.code]).toEqual([403, 'AuthorizationFailed']);

    const roleId = (guid: string) => `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
    // MIC may not assign roles itself (Contributor-like roles lack Microsoft.Authorization/*/write).
    const selfGrant = restError(await failure(authorization.roleAssignments.create(RG_ID, randomUUID(), { roleDefinitionId: roleId(ROLE_IDS.virtualMachineContributor), principalId: MIC.objectId })));
    expect([selfGrant.statusCode, selfGrant.code]).toEqual([403, 'AuthorizationFailed']);
    await adminAuthorization.roleAssignments.create(RG_ID, randomUUID(), { roleDefinitionId: roleId(ROLE_IDS.virtualMachineContributor), principalId: MIC.objectId, principalType: 'ServicePrincipal' });

    const linked = restError(await failure(compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', add, POLL)));
    expect(linked.statusCode).toBe(403);
    expect(linked.code).toBe('LinkedAuthorizationFailed');
    expect(linked.message).toBe(
      `The client '${MIC.appId}' with object id '${MIC.objectId}' has permission to perform action 'Microsoft.Compute/virtualMachineScaleSets/write' on scope '${VMSS_ID}'; however, it does not have permission to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '${uamiId('app-b')}' or the linked scope(s) are invalid.`,
    );
    expect(identityOf(VMSS_ID)?.userAssignedIdentities).toEqual([uamiId('app-a')]);

    await adminAuthorization.roleAssignments.create(IDS_RG_ID, randomUUID(), { roleDefinitionId: roleId(ROLE_IDS.managedIdentityOperator), principalId: MIC.objectId, principalType: 'ServicePrincipal' });
    const updated = await compute.virtualMachineScaleSets.update(NODES, 'aks-pool-vmss', add, POLL);
    expect(Object.keys(updated.identity?.userAssignedIdentities ?? {}).sort()).toEqual([uamiId('app-a'), uamiId('app-b')]);
    expect(identityOf(VMSS_ID)?.userAssignedIdentities).toEqual([uamiId('app-a'), uamiId('app-b')]);
  });
});
