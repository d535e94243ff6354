/**
 * The whole Azure chain of MIC against the simulator, over real HTTPS: azure.json on disk (with the
 * simulator's endpoints and CA) → cloud → ClientSecretCredential against the simulated Entra ID →
 * compute identity client on @azure/arm-compute against the simulated ARM. Covers identity add /
 * remove on a VM and a scale set through real long-running operations, and each ARM failure as its
 * typed error — with the simulator's request log proving what was (not) sent.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeSimAzureJson } from '../../src/sim/azure-json.ts';
import { loadCloudConfig, type CloudConfig } from '../../src/azure/cloud-config.ts';
import { createComputeIdentityClient, type ComputeIdentityClient, type ComputeOperationReport, type TargetIdentityState } from '../../src/azure/compute-identity-client.ts';
import { connectAzure, type AzureConnection } from '../../src/azure/connect.ts';
import { credentialKind } from '../../src/azure/credentials.ts';
import { AuthorizationError, ConflictError, IdentityOperationError, NotFoundError, TargetDeletingError, ThrottledError } from '../../src/azure/errors.ts';
import { buildIdentityPatches } from '../../src/azure/identity-patch.ts';
import type { ComputeTargetRef } from '../../src/azure/provider-id.ts';
import { SimAdminClient } from '../../src/sim/client.ts';
import type { RequestLogEntry } from '../../src/sim/http/request-log.ts';
import { startAzureSimulator, type AzureSimulator } from '../../src/sim/simulator.ts';
import type { ServicePrincipal, UserAssignedIdentity, VirtualMachineScaleSet } from '../../src/sim/state/model.ts';

const SUB = '5b0c7d2e-3f4a-4b5c-8d6e-7f8091a2b3c4';
const NODES = 'MC_rg_cluster_westeurope';
const IDS = 'rg-identities';

describe('compute identity client against the simulated ARM and Entra ID', () => {
  let sim: AzureSimulator;
  let admin: SimAdminClient;
  let workDir: string;
  let config: CloudConfig;
  let azure: AzureConnection;
  let arm: ComputeIdentityClient;
  let principal: ServicePrincipal;
  let secret: string;
  let scaleSet: VirtualMachineScaleSet;
  const identities: Record<'a' | 'b' | 'c', UserAssignedIdentity> = {} as Record<'a' | 'b' | 'c', UserAssignedIdentity>;
  const reports: ComputeOperationReport[] = [];
  const logLines: string[] = [];
  const logger = pino(
    { level: 'trace' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    }),
  );

  const VM: ComputeTargetRef = { kind: 'vm', subscriptionId: SUB, resourceGroup: NODES, name: 'aks-node-0' };
  let VMSS: ComputeTargetRef;
  const storedIdentity = (target: ComputeTargetRef) => {
    const type = target.kind === 'vm' ? 'virtualMachines' : 'virtualMachineScaleSets';
    return sim.store.getCompute(`/subscriptions/${SUB}/resourceGroups/${NODES}/providers/Microsoft.Compute/${type}/${target.name}`)?.identity;
  };
  /** ARM requests logged after `since`, as `METHOD path`. */
  const armRequests = async (since: number): Promise<RequestLogEntry[]> => (await admin.requests({ service: 'arm', since })).entries;
  const lastSeq = async (): Promise<number> => (await admin.requests({ limit: 1 })).lastSeq;
  /** Applies `add`/`remove` the way MIC does: read, build the PATCH blocks, send them in order. */
  const assign = async (target: ComputeTargetRef, add: readonly string[], remove: readonly string[]): Promise<TargetIdentityState> => {
    let state = await arm.getIdentity(target);
    for (const patch of buildIdentityPatches(state.identity, add, remove)) state = await arm.patchIdentity(target, patch);
    return state;
  };
  const failureOf = async (promise: Promise<unknown>): Promise<unknown> => {
    try {
      await promise;
    } catch (error) {
      return error;
    }
    throw new Error('expected the call to fail');
  };

  beforeAll(async () => {
    sim = await startAzureSimulator({ lroDurationMs: { vm: 200, vmss: 400 } });
    admin = new SimAdminClient(sim.adminUrl);
    await admin.seedResourceGroup({ subscriptionId: SUB, resourceGroup: NODES });
    for (const name of ['a', 'b', 'c'] as const) identities[name] = await admin.seedIdentity({ subscriptionId: SUB, resourceGroup: IDS, name: `app-${name}` });
    await admin.seedVm({ subscriptionId: SUB, resourceGroup: NODES, name: VM.name, systemAssigned: true });
    scaleSet = await admin.seedVmss({ subscriptionId: SUB, resourceGroup: NODES, pool: 'nodepool1', instances: 2 });
    VMSS = { kind: 'vmss', subscriptionId: SUB, resourceGroup: NODES, name: scaleSet.name };
    principal = await admin.seedServicePrincipal({ displayName: 'pod-identity-mic', secret: true });
    secret = principal.secrets[0] ?? '';

    // azure.json as an operator would write it for a private cloud: the simulator's endpoints and CA.
    workDir = await mkdtemp(path.join(tmpdir(), 'azure-compute-client-'));
    const azureJson = writeSimAzureJson(sim, { dir: workDir, subscriptionId: SUB, resourceGroup: NODES, clientId: principal.appId, clientSecret: secret, relativeCaFile: true });
    config = await loadCloudConfig({ path: azureJson, env: {} });
    azure = await connectAzure(config, { logger, pollIntervalMs: 25, userAgent: 'pod-identity-mic/test', onOperation: (op) => reports.push(op) });
    arm = azure.compute;
  });

  afterAll(async () => {
    await sim.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  afterEach(async () => {
    await admin.clearFaults();
    await admin.setOptions({ enforceRbac: false });
  });

  it('authenticates as the service principal at the simulated Entra ID (secret, no instance discovery, CA from azure.json)', async () => {
    expect(credentialKind(config)).toBe('service-principal-secret');
    expect(azure.cloud).toMatchObject({ resourceManagerEndpoint: sim.armUrl, authorityHost: sim.entraUrl, armScope: 'https://management.azure.com/.default', knownAuthorityHost: false });
    const since = await lastSeq();
    const token = await azure.credential.getToken(azure.cloud.armScope);
    expect(token?.token).toMatch(/^ey/);
    const entra = (await admin.requests({ service: 'entra', since })).entries;
    expect(entra.map((entry) => `${entry.method} ${entry.path} ${entry.status}`)).toContain(`POST /${sim.tenantId}/oauth2/v2.0/token 200`);
  });

  it('adds two identities to a VM, removes one, and keeps its system-assigned identity throughout', async () => {
    const systemBefore = storedIdentity(VM)?.systemAssigned;
    expect(systemBefore?.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await arm.getIdentity(VM)).toEqual({ identity: { type: 'SystemAssigned', userAssignedIdentities: [] }, provisioningState: 'Succeeded' });

    const added = await assign(VM, [identities.a.id, identities.b.id], []);
    expect(added.provisioningState).toBe('Succeeded');
    expect(added.identity.type).toBe('SystemAssigned, UserAssigned');
    expect(added.identity.userAssignedIdentities.map((id) => id.toLowerCase()).sort()).toEqual([identities.a.id, identities.b.id].map((id) => id.toLowerCase()).sort());

    const removed = await assign(VM, [], [identities.b.id]);
    expect(removed.identity).toEqual({ type: 'SystemAssigned, UserAssigned', userAssignedIdentities: [identities.a.id.toLowerCase()] });
    expect(storedIdentity(VM)).toMatchObject({ type: 'SystemAssigned, UserAssigned', systemAssigned: systemBefore });

    const systemOnly = await assign(VM, [], [identities.a.id]);
    expect(systemOnly.identity).toEqual({ type: 'SystemAssigned', userAssignedIdentities: [] });
    expect(storedIdentity(VM)).toMatchObject({ type: 'SystemAssigned', userAssignedIdentities: [], systemAssigned: systemBefore });

    const updates = reports.filter((report) => report.type === 'vm_update');
    expect(updates).toHaveLength(3);
    // Each PATCH waited for its long-running operation (200 ms in the simulator).
    for (const update of updates) {
      expect(update.error).toBeUndefined();
      expect(update.durationMs).toBeGreaterThanOrEqual(190);
    }
  });

  it('adds two identities to a scale set, removes one, then the last one (type None)', async () => {
    // ARM leaves the identity block out when there is none.
    expect((await arm.getIdentity(VMSS)).identity).toEqual({ type: undefined, userAssignedIdentities: [] });
    const added = await assign(VMSS, [identities.a.id, identities.b.id], []);
    expect(added.identity.type).toBe('UserAssigned');
    expect(added.identity.userAssignedIdentities).toHaveLength(2);
    expect(await assign(VMSS, [], [identities.a.id])).toMatchObject({ identity: { type: 'UserAssigned', userAssignedIdentities: [identities.b.id.toLowerCase()] } });
    const none = await assign(VMSS, [], [identities.b.id]);
    expect(none.identity).toEqual({ type: undefined, userAssignedIdentities: [] });
    expect(storedIdentity(VMSS)).toEqual({ type: 'None', userAssignedIdentities: [] });
    expect(await arm.getIdentity(VMSS)).toEqual({ identity: { type: undefined, userAssignedIdentities: [] }, provisioningState: 'Succeeded' });
  });

  it('names an identity that does not exist (400 FailedIdentityOperation) and changes nothing', async () => {
    const ghost = `/subscriptions/${SUB}/resourceGroups/${IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/Ghost`;
    const error = await failureOf(assign(VMSS, [ghost, identities.c.id], []));
    expect(error).toBeInstanceOf(IdentityOperationError);
    expect(error).toMatchObject({ code: 'PI_ARM_IDENTITY_OPERATION', identityIds: [ghost.toLowerCase()], context: { operation: 'vmss_update', statusCode: 400, armCode: 'FailedIdentityOperation' } });
    expect((error as IdentityOperationError).context.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(storedIdentity(VMSS)).toEqual({ type: 'None', userAssignedIdentities: [] });
  });

  it('reports a missing VM as NotFoundError', async () => {
    const error = await failureOf(arm.getIdentity({ ...VM, name: 'no-such-node' }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ context: { statusCode: 404, armCode: 'ResourceNotFound', operation: 'vm_get' } });
  });

  it('after a 429 with Retry-After: 2, sends no write inside the window, and writes again after it', async () => {
    await admin.addFault({ service: 'arm', method: 'PATCH', path: '/virtualMachineScaleSets/', times: 1, action: { kind: 'status', status: 429, retryAfterSeconds: 2 } });
    const since = await lastSeq();
    const throttled = await failureOf(assign(VMSS, [identities.a.id], []));
    const throttledAt = Date.now();
    expect(throttled).toBeInstanceOf(ThrottledError);
    expect(throttled).toMatchObject({ code: 'PI_ARM_THROTTLED', retryAfterMs: 2_000, scope: 'write', requestSent: true, context: { statusCode: 429, armCode: 'TooManyRequests' } });
    expect((await armRequests(since)).filter((entry) => entry.method === 'PATCH').map((entry) => entry.status)).toEqual([429]);

    // Inside the window: a write to another resource of the subscription fails at once, without a request.
    const afterThrottle = await lastSeq();
    const held = await failureOf(arm.patchIdentity(VM, { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [identities.a.id]: {} } }));
    expect(held).toBeInstanceOf(ThrottledError);
    expect(held).toMatchObject({ scope: 'write', requestSent: false });
    expect((held as ThrottledError).retryAfterMs).toBeGreaterThan(0);
    expect((held as ThrottledError).retryAfterMs).toBeLessThanOrEqual(2_000);
    expect(await armRequests(afterThrottle)).toEqual([]);
    // Reads are a separate budget and still go out.
    await expect(arm.getIdentity(VM)).resolves.toMatchObject({ provisioningState: 'Succeeded' });
    expect((await armRequests(afterThrottle)).map((entry) => entry.method)).toEqual(['GET']);

    await sleep(Math.max(0, throttledAt + 2_050 - Date.now()));
    const state = await assign(VMSS, [identities.a.id], []);
    expect(state.identity.userAssignedIdentities).toEqual([identities.a.id.toLowerCase()]);
    const patches = (await armRequests(since)).filter((entry) => entry.method === 'PATCH');
    expect(patches.map((entry) => entry.status)).toEqual([429, 200]);
    expect(Date.parse(patches[1]?.time ?? '')).toBeGreaterThanOrEqual(Date.parse(patches[0]?.time ?? '') + 2_000);
  });

  it('answers a write while another runs on the scale set with ConflictError (409)', async () => {
    const first = arm.patchIdentity(VMSS, { type: 'UserAssigned', userAssignedIdentities: { [identities.b.id]: {} } });
    await admin.waitForRequest({ service: 'arm', method: 'PATCH', status: 200, since: await lastSeq() }, 5_000);
    const conflict = await failureOf(arm.patchIdentity(VMSS, { type: 'UserAssigned', userAssignedIdentities: { [identities.c.id]: {} } }));
    expect(conflict).toBeInstanceOf(ConflictError);
    expect(conflict).toMatchObject({ code: 'PI_ARM_CONFLICT', retryAfterMs: 5_000, context: { statusCode: 409, armCode: 'Conflict', operation: 'vmss_update' } });
    const done = await first;
    // Keys come back as written (this PATCH used the seeded casing); IDs compare case-insensitively.
    expect(done.identity.userAssignedIdentities.map((id) => id.toLowerCase()).sort()).toEqual([identities.a.id, identities.b.id].map((id) => id.toLowerCase()).sort());
  });

  it('refuses to patch a VM being deleted: a fresh read sees Deleting and no PATCH is sent; ARM refuses a stale one', async () => {
    const vmId = `/subscriptions/${SUB}/resourceGroups/${NODES}/providers/Microsoft.Compute/virtualMachines/${VM.name}`;
    const stored = sim.store.getCompute(vmId);
    if (stored === undefined) throw new Error('VM missing');
    await arm.getIdentity(VM); // this client now believes the VM is Succeeded
    sim.store.putCompute({ ...structuredClone(stored), provisioningState: 'Deleting' });
    try {
      const since = await lastSeq();
      const fresh = createComputeIdentityClient({ credential: azure.credential, cloud: azure.cloud, caPem: sim.caPem, logger, pollIntervalMs: 25 });
      const refused = await failureOf(fresh.patchIdentity(VM, { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [identities.c.id]: {} } }));
      expect(refused).toBeInstanceOf(TargetDeletingError);
      expect(refused).toMatchObject({ code: 'PI_ARM_TARGET_DELETING', context: { operation: 'vm_update', armMessage: 'provisioningState is Deleting' } });
      expect((await armRequests(since)).map((entry) => entry.method)).toEqual(['GET']);

      // The client that read "Succeeded" moments ago skips its read; ARM's own 409 maps to the same error.
      const stale = await failureOf(arm.patchIdentity(VM, { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [identities.c.id]: {} } }));
      expect(stale).toBeInstanceOf(TargetDeletingError);
      expect(stale).toMatchObject({ context: { statusCode: 409, armCode: 'OperationNotAllowed' } });
      expect(storedIdentity(VM)?.userAssignedIdentities).toEqual([]);
    } finally {
      sim.store.putCompute(stored);
    }
  });

  it('with RBAC enforced: AuthorizationError without a role; LinkedAuthorizationFailed names the identity MIC may not assign', async () => {
    await admin.setOptions({ enforceRbac: true });
    // (The simulator checks RBAC on writes only; real ARM would refuse the GET already.)
    const denied = await failureOf(arm.patchIdentity(VMSS, { type: 'UserAssigned', userAssignedIdentities: { [identities.c.id.toLowerCase()]: {} } }));
    expect(denied).toBeInstanceOf(AuthorizationError);
    expect(denied).toMatchObject({ code: 'PI_ARM_AUTHORIZATION', context: { statusCode: 403, armCode: 'AuthorizationFailed', operation: 'vmss_update' } });

    await admin.seedRoleAssignment({ scope: `/subscriptions/${SUB}/resourceGroups/${NODES}`, role: 'Virtual Machine Contributor', principalId: principal.objectId });
    await admin.seedRoleAssignment({ scope: identities.a.id, role: 'Managed Identity Operator', principalId: principal.objectId });
    const before = storedIdentity(VMSS);
    const linked = await failureOf(arm.patchIdentity(VMSS, { type: 'UserAssigned', userAssignedIdentities: { [identities.c.id.toLowerCase()]: {} } }));
    expect(linked).toBeInstanceOf(IdentityOperationError);
    expect(linked).toMatchObject({ identityIds: [identities.c.id.toLowerCase()], context: { statusCode: 403, armCode: 'LinkedAuthorizationFailed', operation: 'vmss_update' } });
    expect(storedIdentity(VMSS)).toEqual(before);

    // Removing needs no assign permission on the identity; adding one MIC may assign works.
    const state = await assign(VMSS, [], [identities.a.id, identities.b.id]);
    expect(state.identity).toEqual({ type: undefined, userAssignedIdentities: [] });
    await expect(assign(VMSS, [identities.a.id], [])).resolves.toMatchObject({ identity: { userAssignedIdentities: [identities.a.id.toLowerCase()] } });
  });

  it('maps a long-running operation that fails (identity deleted mid-flight) to IdentityOperationError naming it', async () => {
    const doomed = await admin.seedIdentity({ subscriptionId: SUB, resourceGroup: IDS, name: 'doomed' });
    // Delete the identity when the client first polls the operation: the operation then fails.
    await admin.addFault({ service: 'arm', method: 'GET', path: '/operations/', times: 1, action: { kind: 'delete-identity', identityId: doomed.id } });
    const before = storedIdentity(VMSS);
    const error = await failureOf(arm.patchIdentity(VMSS, { type: 'UserAssigned', userAssignedIdentities: { [doomed.id.toLowerCase()]: {} } }));
    expect(error).toBeInstanceOf(IdentityOperationError);
    expect(error).toMatchObject({ identityIds: [doomed.id.toLowerCase()], context: { statusCode: undefined, armCode: 'FailedIdentityOperation', operation: 'vmss_update' } });
    expect(storedIdentity(VMSS)).toEqual(before);
  });

  it('never logged the secret or a token', () => {
    const logs = logLines.join('\n');
    expect(logs).toContain('Azure connection configured');
    expect(logs).not.toContain(secret);
    expect(logs).not.toMatch(/bearer|eyJ[\w-]{10,}/i);
  });
});
