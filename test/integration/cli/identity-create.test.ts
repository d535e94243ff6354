/**
 * `pod-identity identity create` as a real child process against the real API server (with our CRDs),
 * the Azure simulator with RBAC enforced, a running MIC and a rootless NMI: the first run creates the
 * identity, waits out an injected PrincipalNotFound (Entra ID replication), assigns the role, grants
 * MIC's principal Managed Identity Operator on it and applies the objects; the second run changes
 * nothing; a pod labelled with the selector then gets a token for the new identity. Bad input and a
 * missing permission fail with the right exit code and message.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { repoRoot } from '../../../src/devenv/binaries.ts';
import { useMicWorld } from '../../support/mic-suite.ts';
import { SUBSCRIPTION } from '../../support/mic-world.ts';
import { startNmi, tokenRequest, type NmiProcess } from '../../support/nmi-world.ts';

const suite = useMicWorld({ scaleSetNodes: 1, vmNodes: 0, enforceRbac: true, lroDurationMs: { vm: 200, vmss: 300 } });
const GROUP = 'cli-identities';
const DATA_GROUP = 'cli-data';
const MIO = 'f1a07417-d97a-45cb-824c-7a7467783830';
const READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';
const dataScope = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${DATA_GROUP}`;

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let operatorEnv: Record<string, string>;
let weakEnv: Record<string, string>;
let nmi: NmiProcess | undefined;

function cli(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/cli/main.ts'), ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: suite.world().dir, NODE_NO_WARNINGS: '1', AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code) => { resolve({ code, stdout, stderr }); });
  });
}

async function servicePrincipal(name: string, role: string, scope: string): Promise<Record<string, string>> {
  const world = suite.world();
  const secret = `s-${randomUUID()}`;
  const principal = await world.admin.seedServicePrincipal({ displayName: name, secret });
  await world.admin.seedRoleAssignment({ scope, role, principalId: principal.objectId });
  return { AZURE_CLIENT_ID: principal.appId, AZURE_CLIENT_SECRET: secret, AZURE_TENANT_ID: world.sim.tenantId };
}

function createArgs(name: string, extra: readonly string[] = []): string[] {
  const world = suite.world();
  return [
    'identity', 'create',
    '--name', name,
    '--resource-group', GROUP,
    '--role', 'Reader',
    '--scope', dataScope,
    '--namespace', 'cli-app',
    '--selector', 'app-sel',
    `--cloudconfig=${world.azureJsonPath}`,
    `--kubeconfig=${world.plane.kubeconfigPath}`,
    ...extra,
  ];
}

beforeAll(async () => {
  const world = suite.world();
  await world.admin.seedResourceGroup({ subscriptionId: SUBSCRIPTION, resourceGroup: GROUP });
  await world.admin.seedResourceGroup({ subscriptionId: SUBSCRIPTION, resourceGroup: DATA_GROUP });
  operatorEnv = await servicePrincipal('operator', 'Owner', `/subscriptions/${SUBSCRIPTION}`);
  weakEnv = await servicePrincipal('weak', 'Reader', `/subscriptions/${SUBSCRIPTION}`);
  await world.namespace('cli-app');
}, 60_000);

afterAll(async () => {
  await nmi?.stop();
});

describe('identity create', () => {
  it('creates, waits out PrincipalNotFound, assigns, applies; a second run is a no-op; the pod gets a token', async () => {
    const world = suite.world();
    // Entra ID replication delay: the first role assignment for the new principal is refused once.
    await world.admin.addFault({ service: 'arm', method: 'PUT', path: 'roleAssignments/', times: 1, action: { kind: 'status', status: 400, code: 'PrincipalNotFound', message: 'Principal abc does not exist in the directory.' } });

    const first = await cli(createArgs('app-id', ['--apply']), operatorEnv);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('azureidentity.aadpodidentity.k8s.io/app-id serverside-applied\nazureidentitybinding.aadpodidentity.k8s.io/app-id-binding serverside-applied\n');
    expect(first.stderr).toContain('identity app-id created');
    expect(first.stderr).toMatch(/not replicated yet \(Entra ID\), attempt 1/);
    expect(first.stderr).toContain('"Reader" for identity app-id at ' + dataScope + ': assigned');
    expect(first.stderr).toContain('"Managed Identity Operator" for the cluster identity');

    const identityId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id`;
    const identity = world.sim.store.getIdentity(identityId);
    expect(identity).toBeDefined();
    const assignments = (): { role: string; scope: string; principalId: string }[] =>
      world.sim.store.listRoleAssignments().map((entry) => ({ role: entry.roleDefinitionId.split('/').pop() ?? '', scope: entry.scope.toLowerCase(), principalId: entry.principalId }));
    const afterFirst = assignments();
    expect(afterFirst).toContainEqual({ role: READER, scope: dataScope.toLowerCase(), principalId: identity?.principalId });
    expect(afterFirst.filter((entry) => entry.role === MIO && entry.scope === identityId.toLowerCase())).toHaveLength(1);

    const since = (await world.admin.requests({ limit: 1 })).lastSeq;
    const second = await cli(createArgs('app-id', ['--apply']), operatorEnv);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('identity app-id exists');
    expect(second.stderr).toContain(': already assigned');
    expect(second.stderr).not.toContain(': assigned');
    expect(assignments()).toEqual(afterFirst);
    const writes = (await world.admin.requests({ service: 'arm', since })).entries.filter((entry) => entry.method !== 'GET');
    expect(writes).toEqual([]);
    expect(world.sim.store.getIdentity(identityId)?.clientId).toBe(identity?.clientId);

    // Without --apply: the same objects on stdout, nothing else there.
    const printed = await cli(createArgs('app-id'), operatorEnv);
    expect(printed.code, printed.stderr).toBe(0);
    if (process.env['CLI_TEST_LOGS'] === '1') console.log([first.stderr, first.stdout, second.stderr, second.stdout, printed.stdout].join('\n=====\n'));
    const documents = YAML.parseAllDocuments(printed.stdout).map((document) => document.toJS() as Record<string, unknown>);
    expect(documents).toEqual([
      { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name: 'app-id', namespace: 'cli-app' }, spec: { type: 0, resourceID: identityId, clientID: identity?.clientId } },
      { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', metadata: { name: 'app-id-binding', namespace: 'cli-app' }, spec: { azureIdentity: 'app-id', selector: 'app-sel' } },
    ]);

    // The pod: MIC assigns the identity (it may, thanks to the grant) and NMI serves its token.
    const node = world.scaleSetNodes[0] ?? '';
    nmi = await startNmi(world, node, ['--retry-attempts-for-created=8', '--retry-attempts-for-assigned=8', '--find-identity-retry-interval=2']);
    const ip = '127.11.0.7';
    await world.createPod('cli-app', 'app', node, 'app-sel', { ip });
    const response = await tokenRequest(nmi, ip, { resource: 'https://management.azure.com/' });
    expect(response.status, response.text).toBe(200);
    expect(response.json()['client_id']).toBe(identity?.clientId);
    expect(decodeJwt(String(response.json()['access_token']))['oid']).toBe(identity?.principalId);
    expect(world.scaleSetIdentities()).toContain(identityId.toLowerCase());
  }, 120_000);

  it('refuses malformed input with exit 2 before touching Azure', async () => {
    const malformed = await cli(['identity', 'create', '--name', 'x1', '--resource-group', GROUP, '--role', 'Reader', '--scope', '/subscriptions/not-a-guid/resourceGroups/x'], operatorEnv);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('--scope: "/subscriptions/not-a-guid/resourceGroups/x" is not valid: expected an ARM scope');
    const missing = await cli(['identity', 'create', '--role', 'Reader'], operatorEnv);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--name is required');
    expect(missing.stderr).toContain('--role needs --scope');
    const unknownRole = await cli(createArgs('app-id-2', ['--role', 'No Such Role']), operatorEnv);
    expect(unknownRole.code).toBe(2);
    expect(unknownRole.stderr).toContain('--role "No Such Role": no role named so');
    expect(suite.world().sim.store.listIdentities({ subscriptionId: SUBSCRIPTION, resourceGroup: GROUP }).map((entry) => entry.name)).not.toContain('app-id-2');
  });

  it('names the missing role when the signed-in principal may not create the identity', async () => {
    const result = await cli(createArgs('weak-id', ['--location', 'westeurope']), weakEnv);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot create user-assigned identity');
    expect(result.stderr).toContain('AuthorizationFailed');
    expect(result.stderr).toContain(`needs the role "Managed Identity Contributor" or "Contributor" on /subscriptions/${SUBSCRIPTION}/resourceGroups/${GROUP}`);
    expect(result.stdout).toBe('');
  });
});
