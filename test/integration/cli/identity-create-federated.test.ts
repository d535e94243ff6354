/**
 * `pod-identity identity create --federated` as a real child process against the real API server
 * (whose service-account issuer is https://127.0.0.1:<port>) and the Azure simulator's ARM with RBAC
 * enforced: the identity gets a federated identity credential for the plane's issuer and NMI's
 * subject, no Managed Identity Operator grant, and an AzureIdentity of type 3; a second run writes
 * nothing to ARM; an http issuer is refused; a credential name clash is updated. Then
 * `pod-identity doctor` on pods bound to federated identities: healthy, a credential with the wrong
 * subject, none at all, and an issuer that cannot be reached.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import YAML from 'yaml';
import type { DoctorReport, StepId } from '../../../src/cli/doctor/model.ts';
import { main } from '../../../src/cli/main.ts';
import { repoRoot } from '../../../src/devenv/binaries.ts';
import { rawRequest } from '../../../src/kube/raw-client.ts';
import { useMicWorld } from '../../support/mic-suite.ts';
import { IDENTITY_GROUP, SUBSCRIPTION, type MicWorld } from '../../support/mic-world.ts';

const suite = useMicWorld({ scaleSetNodes: 1, vmNodes: 0, enforceRbac: true });
const w = (): MicWorld => suite.world();
const NAMESPACE = 'fed-app';
const NMI_SUBJECT = 'system:serviceaccount:kube-system:pod-identity-nmi';
const AUDIENCE = 'api://AzureADTokenExchange';
const MIO = 'f1a07417-d97a-45cb-824c-7a7467783830';
const identityId = (name: string): string => `/subscriptions/${SUBSCRIPTION}/resourceGroups/${IDENTITY_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let operatorEnv: Record<string, string>;
let issuerCaFile: string;

function cli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/cli/main.ts'), ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: w().dir, NODE_NO_WARNINGS: '1', AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential', ...operatorEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code) => { resolve({ code, stdout, stderr }); });
  });
}

function createArgs(name: string, extra: readonly string[] = []): string[] {
  return [
    'identity', 'create', '--federated',
    '--name', name,
    '--resource-group', IDENTITY_GROUP,
    '--namespace', NAMESPACE,
    '--selector', name,
    `--cloudconfig=${w().azureJsonPath}`,
    `--kubeconfig=${w().plane.kubeconfigPath}`,
    ...extra,
  ];
}

/** doctor -o json in-process, with the world's kubeconfig, azure.json (MIC's service principal) and the plane's CA for the issuer. */
async function doctor(pod: string, extra: readonly string[] = []): Promise<{ code: number; report: DoctorReport }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) }, shutdown: new AbortController().signal };
  const code = await main(
    ['doctor', pod, '-n', NAMESPACE, `--kubeconfig=${w().plane.kubeconfigPath}`, `--cloudconfig=${w().azureJsonPath}`, `--issuer-ca-file=${issuerCaFile}`, '-o', 'json', ...extra],
    io,
  );
  if (stderr !== '') throw new Error(stderr);
  if (process.env['CLI_TEST_LOGS'] === '1') console.log(stdout);
  return { code, report: JSON.parse(stdout) as DoctorReport };
}

const stepOf = (report: DoctorReport, id: StepId) => report.steps.find((step) => step.id === id);

async function armWritesSince(since: number): Promise<string[]> {
  return (await w().admin.requests({ service: 'arm', since })).entries.filter((entry) => entry.method !== 'GET').map((entry) => `${entry.method} ${entry.path}`);
}

/** A pod labelled `selector` on the node, and its AzureAssignedIdentity Assigned by MIC. */
async function boundPod(name: string, selector: string): Promise<void> {
  await w().createPod(NAMESPACE, name, w().scaleSetNodes[0] ?? '', selector);
  await vi.waitFor(async () => {
    expect((await w().assignedFor(NAMESPACE, name)).map((entry) => entry.status?.status)).toEqual(['Assigned']);
  }, { timeout: 30_000, interval: 100 });
}

/** A type-3 AzureIdentity and its binding for an identity seeded in the simulator. */
async function federatedObjects(name: string, identity: { id: string; clientId: string }): Promise<void> {
  await w().createIdentity(NAMESPACE, name, { type: 3, resourceID: identity.id, clientID: identity.clientId, tenantID: w().sim.tenantId });
  await w().createBinding(NAMESPACE, `${name}-binding`, name, name);
}

beforeAll(async () => {
  const world = w();
  const secret = `s-${randomUUID()}`;
  const principal = await world.admin.seedServicePrincipal({ displayName: 'operator', secret });
  await world.admin.seedRoleAssignment({ scope: `/subscriptions/${SUBSCRIPTION}`, role: 'Owner', principalId: principal.objectId });
  operatorEnv = { AZURE_CLIENT_ID: principal.appId, AZURE_CLIENT_SECRET: secret, AZURE_TENANT_ID: world.sim.tenantId };
  issuerCaFile = path.join(world.dir, 'plane-ca.pem');
  writeFileSync(issuerCaFile, world.plane.caPem);
  await world.namespace(NAMESPACE);
  await world.namespace('kube-system');
  // NMI as the chart runs it: ServiceAccount pod-identity-nmi in kube-system, Ready on the node.
  await rawRequest(world.kc, {
    method: 'POST',
    path: '/api/v1/namespaces/kube-system/pods',
    body: {
      metadata: { name: 'nmi-0', labels: { 'app.kubernetes.io/name': 'pod-identity', 'app.kubernetes.io/component': 'nmi' } },
      spec: { nodeName: world.scaleSetNodes[0], serviceAccountName: 'pod-identity-nmi', hostNetwork: true, containers: [{ name: 'nmi', image: 'example.invalid/nmi:1' }] },
    },
  });
  await rawRequest(world.kc, {
    method: 'PATCH',
    path: '/api/v1/namespaces/kube-system/pods/nmi-0/status',
    contentType: 'application/merge-patch+json',
    body: { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
  });
}, 60_000);

describe('identity create --federated', () => {
  it('adds the credential for the cluster issuer and NMI, applies a type-3 AzureIdentity, grants nothing; a second run writes nothing', async () => {
    const world = w();
    const first = await cli(createArgs('fed-id', ['--location', 'westeurope', '--apply']));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('azureidentity.aadpodidentity.k8s.io/fed-id serverside-applied\nazureidentitybinding.aadpodidentity.k8s.io/fed-id-binding serverside-applied\n');
    expect(first.stderr).toContain(`cluster issuer ${world.plane.issuerUrl}`);
    expect(first.stderr).toMatch(/federated credential "pod-identity-[0-9a-f]{12}" created/);
    expect(first.stderr).toContain('no "Managed Identity Operator" grant for the cluster identity');
    expect(first.stderr).not.toContain('finding the cluster identity');

    const id = identityId('fed-id');
    const identity = world.sim.store.getIdentity(id);
    expect(identity).toBeDefined();
    const credentials = world.sim.store.listFederatedCredentials(id).map(({ issuer, subject, audiences }) => ({ issuer, subject, audiences }));
    expect(credentials).toEqual([{ issuer: world.plane.issuerUrl, subject: NMI_SUBJECT, audiences: [AUDIENCE] }]);
    expect(world.sim.store.listRoleAssignments().filter((entry) => entry.scope.toLowerCase() === id.toLowerCase() && entry.roleDefinitionId.endsWith(MIO))).toEqual([]);

    const applied = (await rawRequest(world.kc, { method: 'GET', path: `/apis/aadpodidentity.k8s.io/v1/namespaces/${NAMESPACE}/azureidentities/fed-id` })) as { spec: Record<string, unknown> };
    expect(applied.spec).toMatchObject({ type: 3, resourceID: id, clientID: identity?.clientId, tenantID: world.sim.tenantId });

    const since = (await world.admin.requests({ limit: 1 })).lastSeq;
    const second = await cli(createArgs('fed-id', ['--apply']));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('identity fed-id exists');
    expect(second.stderr).toMatch(/federated credential "pod-identity-[0-9a-f]{12}" exists/);
    expect(await armWritesSince(since)).toEqual([]);
    expect(world.sim.store.listFederatedCredentials(id)).toHaveLength(1);

    // Printed instead of applied, with --issuer given: the same type-3 object.
    const printed = await cli(createArgs('fed-id', ['--issuer', world.plane.issuerUrl]));
    expect(printed.code, printed.stderr).toBe(0);
    const documents = YAML.parseAllDocuments(printed.stdout).map((document) => document.toJS() as { kind: string; spec: Record<string, unknown> });
    expect(documents[0]).toMatchObject({ kind: 'AzureIdentity', spec: { type: 3, resourceID: id, clientID: identity?.clientId, tenantID: world.sim.tenantId } });
    if (process.env['CLI_TEST_LOGS'] === '1') console.log([first.stderr, second.stderr, printed.stdout].join('\n=====\n'));
  }, 90_000);

  it('refuses an http issuer before touching Azure', async () => {
    const since = (await w().admin.requests({ limit: 1 })).lastSeq;
    const result = await cli(createArgs('fed-http', ['--location', 'westeurope', '--issuer', `http://127.0.0.1:${new URL(w().plane.issuerUrl).port}`]));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Entra ID accepts only https issuers');
    expect(await armWritesSince(since)).toEqual([]);
    expect(w().sim.store.getIdentity(identityId('fed-http'))).toBeUndefined();
  });

  it('updates a credential of the same name with other content, and says so', async () => {
    const world = w();
    const seeded = await world.admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP, name: 'fed-clash' });
    await world.admin.seedFederatedCredential({ identityId: seeded.id, name: 'cluster-a', issuer: 'https://old-issuer.example.com', subject: NMI_SUBJECT });
    const result = await cli(createArgs('fed-clash', ['--federated-credential-name', 'cluster-a']));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`updating "cluster-a": issuer is "https://old-issuer.example.com", the cluster's is "${world.plane.issuerUrl}"`);
    expect(result.stderr).toContain('federated credential "cluster-a" updated');
    expect(world.sim.store.listFederatedCredentials(seeded.id).map(({ name, issuer }) => ({ name, issuer }))).toEqual([{ name: 'cluster-a', issuer: world.plane.issuerUrl }]);
  });
});

describe('doctor on federated identities', () => {
  it('healthy: the issuer serves discovery and keys anonymously, the credential trusts NMI', async () => {
    await boundPod('healthy', 'fed-id');
    const { code, report } = await doctor('healthy');
    expect(report.steps.filter((step) => step.status !== 'ok' && step.status !== 'skip').map((step) => `${step.id}: ${step.status} ${step.detail}`)).toEqual([]);
    expect(stepOf(report, 'issuer')?.detail).toContain(`issuer ${w().plane.issuerUrl}`);
    expect(stepOf(report, 'federated-credential')?.detail).toContain(`subject ${NMI_SUBJECT}`);
    expect(stepOf(report, 'role')?.status).toBe('skip');
    expect(code).toBe(0);
  });

  it('a credential with the wrong subject, and none at all', async () => {
    const world = w();
    const wrong = await world.admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP, name: 'fed-wrong' });
    await world.admin.seedFederatedCredential({ identityId: wrong.id, name: 'other-nmi', issuer: world.plane.issuerUrl, subject: 'system:serviceaccount:kube-system:other-nmi' });
    await federatedObjects('fed-wrong', wrong);
    await boundPod('wrong', 'fed-wrong');
    const wrongRun = await doctor('wrong');
    expect([wrongRun.code, wrongRun.report.firstFailure]).toEqual([1, 'federated-credential']);
    const wrongStep = stepOf(wrongRun.report, 'federated-credential');
    expect(wrongStep?.detail).toContain(`subject is "system:serviceaccount:kube-system:other-nmi", NMI's token says "${NMI_SUBJECT}"`);
    expect(wrongStep?.detail).not.toContain('issuer is');
    expect(wrongStep?.fix).toContain('az identity federated-credential update --name other-nmi --identity-name fed-wrong');

    const none = await world.admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP, name: 'fed-none' });
    await federatedObjects('fed-none', none);
    await boundPod('none', 'fed-none');
    const noneRun = await doctor('none');
    expect([noneRun.code, noneRun.report.firstFailure]).toEqual([1, 'federated-credential']);
    expect(stepOf(noneRun.report, 'federated-credential')?.detail).toContain('has no federated identity credential');
    expect(stepOf(noneRun.report, 'federated-credential')?.fix).toContain('pod-identity identity create --federated --name fed-none');
  });

  it('an issuer that cannot be reached', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0); });
      });
    });
    const { code, report } = await doctor('healthy', ['--issuer', `https://127.0.0.1:${closedPort}`]);
    expect([code, report.firstFailure]).toEqual([1, 'issuer']);
    expect(stepOf(report, 'issuer')?.detail).toContain('ECONNREFUSED');
    expect(stepOf(report, 'issuer')?.fix).toContain('reachable from the internet');
    // The credential trusts the plane's issuer, not this one: named as the wrong part.
    expect(stepOf(report, 'federated-credential')?.detail).toContain(`issuer is "${w().plane.issuerUrl}", the cluster's is "https://127.0.0.1:${closedPort}"`);
  });

  it('without the issuer\'s CA the TLS failure is named', async () => {
    let stdout = '';
    const io = { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: () => true }, shutdown: new AbortController().signal };
    await main(['doctor', 'healthy', '-n', NAMESPACE, `--kubeconfig=${w().plane.kubeconfigPath}`, '--skip-azure', '-o', 'json'], io);
    const report = JSON.parse(stdout) as DoctorReport;
    expect(stepOf(report, 'issuer')?.status).toBe('fail');
    expect(stepOf(report, 'issuer')?.detail).toMatch(/certificate/i);
    expect(stepOf(report, 'federated-credential')?.status).toBe('skip');
  });
});
