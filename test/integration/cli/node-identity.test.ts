/**
 * `pod-identity node-identity enable` as a real child process against the Azure simulator (RBAC
 * enforced) with a real API server: a node resource group with a scale set, a plain VM and a VM that
 * already has a user-assigned identity (kept) and one that already has a system-assigned identity
 * (left alone). The first run enables and assigns (waiting out an injected PrincipalNotFound), the
 * second changes nothing; bad input exits 2; a
 * principal without Virtual Machine Contributor gets exit 1 and the role named.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../../src/devenv/binaries.ts';
import { identityResourceId, MicWorld, NODE_GROUP, SUBSCRIPTION } from '../../support/mic-world.ts';

const READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';
const nodeScope = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${NODE_GROUP}`;
let world: MicWorld;
let operatorEnv: Record<string, string>;
let weakEnv: Record<string, string>;
let userAssignedId: string;

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/cli/main.ts'), 'node-identity', 'enable', ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: world.dir, NODE_NO_WARNINGS: '1', AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code) => { resolve({ code, stdout, stderr }); });
  });
}

async function servicePrincipal(name: string, role: string): Promise<Record<string, string>> {
  const secret = `s-${randomUUID()}`;
  const principal = await world.admin.seedServicePrincipal({ displayName: name, secret });
  await world.admin.seedRoleAssignment({ scope: `/subscriptions/${SUBSCRIPTION}`, role, principalId: principal.objectId });
  return { AZURE_CLIENT_ID: principal.appId, AZURE_CLIENT_SECRET: secret, AZURE_TENANT_ID: world.sim.tenantId };
}

function computeId(kind: 'vm' | 'vmss', name: string): string {
  return `${nodeScope}/providers/Microsoft.Compute/${kind === 'vm' ? 'virtualMachines' : 'virtualMachineScaleSets'}/${name}`;
}

beforeAll(async () => {
  world = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 1, enforceRbac: true, lroDurationMs: { vm: 200, vmss: 400 } });
  userAssignedId = (await world.azureIdentity('kubelet-extra')).id;
  await world.admin.seedVm({ subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, name: 'aks-user-0', identities: [userAssignedId] });
  await world.admin.seedVm({ subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, name: 'aks-system-0', systemAssigned: true });
  operatorEnv = await servicePrincipal('operator', 'Owner');
  weakEnv = await servicePrincipal('weak', 'Reader');
}, 120_000);

afterAll(async () => {
  await world.stop();
});

interface JsonSummary {
  role: string;
  resources: { kind: string; name: string; systemIdentity: string; principalId?: string; roleAssignment: string; scope: string; error?: string }[];
}

describe('node-identity enable', () => {
  it('enables the system identity on every VM and scale set, keeps user-assigned ones, assigns the role; a re-run is a no-op', async () => {
    const preexisting = world.sim.store.getCompute(computeId('vm', 'aks-system-0'))?.identity.systemAssigned?.principalId;
    expect(preexisting).toBeDefined();
    await world.admin.addFault({ service: 'arm', method: 'PUT', path: 'roleAssignments/', times: 1, action: { kind: 'status', status: 400, code: 'PrincipalNotFound', message: 'Principal x does not exist in the directory.' } });

    const first = await cli(['--role', 'Reader', `--cloudconfig=${world.azureJsonPath}`, '--poll-interval=100ms', '--output=json'], operatorEnv);
    expect(first.code, first.stderr).toBe(0);
    const summary = JSON.parse(first.stdout) as JsonSummary;
    expect(summary.role).toBe('Reader');
    const byName = new Map(summary.resources.map((row) => [row.name, row]));
    expect([...byName.keys()].sort()).toEqual(['aks-agent-0', 'aks-pool1-12345678-vmss', 'aks-system-0', 'aks-user-0']);
    expect(byName.get('aks-pool1-12345678-vmss')).toMatchObject({ kind: 'vmss', systemIdentity: 'enabled', roleAssignment: 'created', scope: nodeScope });
    expect(byName.get('aks-agent-0')).toMatchObject({ kind: 'vm', systemIdentity: 'enabled', roleAssignment: 'created' });
    expect(byName.get('aks-user-0')).toMatchObject({ kind: 'vm', systemIdentity: 'enabled', roleAssignment: 'created' });
    expect(byName.get('aks-system-0')).toMatchObject({ kind: 'vm', systemIdentity: 'already enabled', principalId: preexisting, roleAssignment: 'created' });
    expect(first.stderr).toContain('not replicated yet (Entra ID)');

    // What Azure holds now: system identities whose principals have the role; the user-assigned identity kept.
    const user = world.sim.store.getCompute(computeId('vm', 'aks-user-0'));
    expect(user?.identity.type).toBe('SystemAssigned, UserAssigned');
    expect(user?.identity.userAssignedIdentities.map((id) => id.toLowerCase())).toEqual([userAssignedId.toLowerCase()]);
    expect(identityResourceId('kubelet-extra').toLowerCase()).toBe(userAssignedId.toLowerCase());
    const readers = world.sim.store.listRoleAssignments().filter((entry) => entry.roleDefinitionId.toLowerCase().endsWith(READER) && entry.scope.toLowerCase() === nodeScope.toLowerCase());
    for (const row of summary.resources) {
      const kind = row.kind === 'vm' ? 'vm' : 'vmss';
      const principal = world.sim.store.getCompute(computeId(kind, row.name))?.identity.systemAssigned?.principalId;
      expect(principal).toBe(row.principalId);
      expect(readers.filter((entry) => entry.principalId === principal)).toHaveLength(1);
    }

    const since = (await world.admin.requests({ limit: 1 })).lastSeq;
    const second = await cli(['--role', 'Reader', `--cloudconfig=${world.azureJsonPath}`, '--poll-interval=100ms'], operatorEnv);
    expect(second.code, second.stderr).toBe(0);
    if (process.env['CLI_TEST_LOGS'] === '1') console.log([first.stderr, first.stdout, second.stderr, second.stdout].join('\n=====\n'));
    const lines = second.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KIND\s+NAME\s+RESOURCE GROUP\s+SYSTEM IDENTITY\s+PRINCIPAL ID\s+ROLE ASSIGNMENT$/);
    expect(lines.slice(1)).toHaveLength(4);
    for (const line of lines.slice(1)) expect(line).toMatch(/already enabled\s+[0-9a-f-]{36}\s+exists$/);
    const writes = (await world.admin.requests({ service: 'arm', since })).entries.filter((entry) => entry.method !== 'GET');
    expect(writes).toEqual([]);
  }, 120_000);

  it('refuses malformed input with exit 2', async () => {
    const missing = await cli([`--cloudconfig=${world.azureJsonPath}`], operatorEnv);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--role is required');
    const badScope = await cli(['--role', 'Reader', '--scope', '/subscriptions/not-a-guid', `--cloudconfig=${world.azureJsonPath}`], operatorEnv);
    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toContain('--scope');
    expect(badScope.stderr).toContain('expected an ARM scope');
    const unknownRole = await cli(['--role', 'Nope Reader', `--cloudconfig=${world.azureJsonPath}`], operatorEnv);
    expect(unknownRole.code).toBe(2);
    expect(unknownRole.stderr).toContain('no role named so');
  });

  it('reports every resource it could not change with the missing role, and exits 1', async () => {
    await world.admin.seedVm({ subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, name: 'aks-new-0' });
    const result = await cli(['--role', 'Reader', `--cloudconfig=${world.azureJsonPath}`, '--poll-interval=100ms'], weakEnv);
    expect(result.code).toBe(1);
    if (process.env['CLI_TEST_LOGS'] === '1') console.log(`${result.stderr}\n=====\n${result.stdout}`);
    expect(result.stdout).toMatch(/VM\s+aks-new-0\s+\S+\s+failed\s+-\s+skipped/);
    expect(result.stdout).toContain('needs the role "Virtual Machine Contributor" or "Contributor"');
    // The others already have everything: the weak principal can see that much.
    expect(result.stdout).toMatch(/VM\s+aks-agent-0\s+\S+\s+already enabled\s+\S+\s+exists/);
  });
});
