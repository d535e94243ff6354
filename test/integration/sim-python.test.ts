/**
 * A second SDK none of us wrote: Python azure-identity's ManagedIdentityCredential gets a token from
 * the simulated IMDS of a node, for the identity it names, and is refused one that is not on the node.
 * The venv comes from scripts/setup-python-clients.sh (cached); if it cannot be made, this file fails.
 */
import path from 'node:path';
import type { JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzureSimulator, type AzureSimulator, type ImdsListener } from '../../src/sim/index.ts';
import type { UserAssignedIdentity } from '../../src/sim/state/model.ts';
import { CLIENTS_DIR, clientEnvironment, discoverSigningKeys, parseResultLine, tokenOf, verifiedClaims } from '../clients/harness.ts';
import type { ClientResult } from '../clients/node/report.ts';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { run } from '../../src/devenv/exec.ts';

const SUB = '4d7e2b90-3c1f-4a6e-8b2d-9e0f1a2b3c4d';
const ARM_SCOPE = 'https://management.azure.com/.default';

let sim: AzureSimulator;
let imds: ImdsListener;
let keys: JWTVerifyGetKey;
let python: string;
let assigned: UserAssignedIdentity;
let other: UserAssignedIdentity;
let elsewhere: UserAssignedIdentity;

function identity(name: string, clientId: string, principalId: string, tenantId: string): UserAssignedIdentity {
  return {
    id: `/subscriptions/${SUB}/resourceGroups/rg-py/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    name,
    subscriptionId: SUB,
    resourceGroup: 'rg-py',
    location: 'eastus',
    tags: {},
    clientId,
    principalId,
    tenantId,
  };
}

beforeAll(async () => {
  const setup = await run('bash', [path.join(repoRoot, 'scripts/setup-python-clients.sh')], { timeoutMs: 300_000 });
  if (setup.code !== 0) throw new Error(`scripts/setup-python-clients.sh failed (${setup.code}):\n${setup.stderr}${setup.stdout}`);
  python = setup.stdout.trim().split('\n').at(-1) ?? '';
  console.log(setup.stderr.trim());

  sim = await startAzureSimulator();
  assigned = identity('py-app', 'a7a7a7a7-0000-4000-8000-000000000001', 'b7b7b7b7-0000-4000-8000-000000000001', sim.tenantId);
  other = identity('py-other', 'a7a7a7a7-0000-4000-8000-000000000002', 'b7b7b7b7-0000-4000-8000-000000000002', sim.tenantId);
  elsewhere = identity('py-elsewhere', 'a7a7a7a7-0000-4000-8000-000000000003', 'b7b7b7b7-0000-4000-8000-000000000003', sim.tenantId);
  for (const item of [assigned, other, elsewhere]) sim.store.putIdentity(item);
  sim.store.putCompute({
    kind: 'vm',
    id: `/subscriptions/${SUB}/resourceGroups/rg-py/providers/Microsoft.Compute/virtualMachines/py-node`,
    name: 'py-node',
    subscriptionId: SUB,
    resourceGroup: 'rg-py',
    location: 'eastus',
    tags: {},
    vmSize: 'Standard_B2s',
    provisioningState: 'Succeeded',
    vmId: 'c7c7c7c7-0000-4000-8000-000000000001',
    identity: { type: 'UserAssigned', userAssignedIdentities: [assigned.id, other.id] },
  });
  imds = await sim.startImds('py-node');
  keys = await discoverSigningKeys(sim.entraUrl, sim.tenantId, sim.caPem);
}, 300_000);

afterAll(async () => {
  await sim.stop();
});

async function pythonClient(scenario: object): Promise<ClientResult> {
  const script = path.join(CLIENTS_DIR, 'python', 'get_token.py');
  const result = await run(python, [script, JSON.stringify(scenario)], { env: clientEnvironment({ AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url }), timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`get_token.py exited ${result.code}:\n${result.stderr}${result.stdout}`);
  return parseResultLine(result.stdout, result.stderr, 'get_token.py');
}

describe('Python azure-identity ManagedIdentityCredential against the simulated IMDS', () => {
  it('client_id: a token whose verified claims name that identity', async () => {
    const claims = await verifiedClaims(tokenOf(await pythonClient({ client_id: assigned.clientId, scope: ARM_SCOPE })), keys);
    expect(claims).toMatchObject({
      aud: 'https://management.azure.com',
      tid: sim.tenantId,
      appid: assigned.clientId,
      oid: assigned.principalId,
      xms_mirid: assigned.id,
    });
  });

  // azure-identity 1.2x hands IMDS to MSAL-Python, which takes `resource_id` and sends `msi_res_id`.
  it('identity_config resource_id: the other identity on the node', async () => {
    const claims = await verifiedClaims(tokenOf(await pythonClient({ identity_config: { resource_id: other.id }, scope: ARM_SCOPE })), keys);
    expect(claims).toMatchObject({ appid: other.clientId, xms_mirid: other.id });
  });

  it('an identity not on the node: the SDK reports it unavailable, quoting IMDS’s error', async () => {
    const result = await pythonClient({ client_id: elsewhere.clientId, scope: ARM_SCOPE });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errorName).toBe('CredentialUnavailableError');
    expect(result.message).toContain('(invalid_request) Identity not found');
  });

  it('several identities on the node and none named: IMDS’s "Multiple user assigned identities" error', async () => {
    const result = await pythonClient({ scope: ARM_SCOPE });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message).toContain('Multiple user assigned identities exist');
  });
});
