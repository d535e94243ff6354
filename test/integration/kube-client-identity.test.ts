/**
 * Our components' identity towards a real kube-apiserver: MIC, NMI and the CLI, each as a real child
 * process authenticated as its own client-certificate user, send `<component>/<version> (<os>/<arch>)
 * node/<version>` plus `--custom-user-agent` on every request (the API server's audit log records each
 * request's User-Agent), and the objects they write name the component in `managedFields[].manager`.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EVENT_SOURCE_COMPONENT } from '../../src/api/index.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { readAuditEvents, type AuditEvent } from '../../src/devenv/audit.ts';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { MicWorld, SUBSCRIPTION, type MicProcess } from '../support/mic-world.ts';
import { startNmi, tokenRequest, type NmiProcess } from '../support/nmi-world.ts';

const CUSTOM = 'contoso-aks/2 (ua-test)';
const TAINT = 'aadpodidentity.k8s.io/nmi-not-ready';
const VERSIONED = String.raw`\d+\.\d+\.\d+ \((linux|darwin|windows)/[a-z0-9]+\) node/v\d+\.\d+\.\d+`;

interface Managed {
  readonly manager?: string;
  readonly operation?: string;
  readonly subresource?: string;
}

interface KubeObjectWithFields {
  readonly metadata?: { readonly name?: string; readonly managedFields?: readonly Managed[] };
}

let started: MicWorld | undefined;

function world(): MicWorld {
  if (started === undefined) throw new Error('world not started');
  return started;
}
let mic: MicProcess;
let nmi: NmiProcess | undefined;

async function get(path_: string): Promise<KubeObjectWithFields> {
  return (await rawRequest(world().kc, { method: 'GET', path: path_ })) as KubeObjectWithFields;
}

function managers(object: KubeObjectWithFields): string[] {
  return [...new Set((object.metadata?.managedFields ?? []).map((entry) => entry.manager ?? ''))].sort();
}

/** One audit event per request of `user` (a watch is logged when it starts and again when it ends). */
async function requestsBy(user: string): Promise<AuditEvent[]> {
  const byId = new Map<string, AuditEvent>();
  for (const event of await readAuditEvents(world().plane.auditLogPath)) if (event.user.username === user && !byId.has(event.auditID)) byId.set(event.auditID, event);
  return [...byId.values()];
}

/** User-Agents seen from `user`, with how many requests each. */
async function userAgentsOf(user: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const event of await requestsBy(user)) counts[event.userAgent ?? '(none)'] = (counts[event.userAgent ?? '(none)'] ?? 0) + 1;
  return counts;
}

function cli(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/cli/main.ts'), ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: world().dir, NODE_NO_WARNINGS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code) => { resolve({ code, stdout, stderr }); });
  });
}

beforeAll(async () => {
  started = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } });
  const kubeconfig = await world().plane.createClientCertUser('mic-ua', ['system:masters']);
  mic = await world().startMic('mic-ua', [`--kubeconfig=${kubeconfig}`, `--custom-user-agent=${CUSTOM}`]);
  await vi.waitFor(async () => { expect(await world().health(mic)).toBe('Active'); }, { timeout: 30_000, interval: 200 });
}, 120_000);

afterAll(async () => {
  await nmi?.stop();
  await started?.stop();
});

describe('MIC towards the API server', () => {
  it('AAIs (create and status update), Events, the Lease and the type-upgrade ConfigMap are managed by pod-identity-mic; every request carries its User-Agent and --custom-user-agent', async () => {
    const ns = await world().namespace('ua-mic');
    const azure = await world().azureIdentity('ua-reader');
    await world().createIdentity(ns, 'ua-reader', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world().createBinding(ns, 'ua-binding', 'ua-reader', 'ua-reader');
    await world().createPod(ns, 'app', world().scaleSetNodes[0] ?? '', 'ua-reader');
    await vi.waitFor(async () => {
      expect((await world().assignedFor(ns, 'app')).map((entry) => entry.status?.status)).toEqual(['Assigned']);
    }, { timeout: 20_000, interval: 100 });

    const [assigned] = await world().assignedFor(ns, 'app');
    const aai = await get(`/apis/aadpodidentity.k8s.io/v1/namespaces/default/azureassignedidentities/${assigned?.metadata.name ?? ''}`);
    expect(managers(aai)).toEqual(['pod-identity-mic']);
    // Created, then the status Assigned: a later write by the same manager (MIC patches the status).
    const writes = (await requestsBy('mic-ua')).filter((event) => event.objectRef?.resource === 'azureassignedidentities' && ['create', 'update', 'patch'].includes(event.verb));
    expect(writes[0]?.verb).toBe('create');
    expect(writes.length).toBeGreaterThanOrEqual(2);
    for (const write of writes) expect(new URL(write.requestURI, 'https://x').searchParams.get('fieldManager')).toBe('pod-identity-mic');

    const events = (await rawRequest(world().kc, { method: 'GET', path: '/api/v1/events' })) as { items: (KubeObjectWithFields & { source?: { component?: string }; reason?: string })[] };
    const ours = events.items.filter((event) => event.source?.component === EVENT_SOURCE_COMPONENT);
    expect(ours.map((event) => event.reason)).toContain('binding applied');
    for (const event of ours) expect(managers(event)).toEqual(['pod-identity-mic']);

    expect(managers(await get('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/aad-pod-identity-mic'))).toEqual(['pod-identity-mic']);
    expect(managers(await get('/api/v1/namespaces/kube-system/configmaps/aad-pod-identity-config'))).toEqual(['pod-identity-mic']);

    const agents = await userAgentsOf('mic-ua');
    expect(Object.keys(agents)).toHaveLength(1);
    const [agent] = Object.keys(agents);
    expect(agent).toMatch(new RegExp(`^pod-identity-mic/${VERSIONED} ${CUSTOM.replace(/[()]/g, '\\$&')}$`));
    // Lists, watches, reads and writes alike.
    expect([...new Set((await requestsBy('mic-ua')).map((event) => event.verb))]).toEqual(expect.arrayContaining(['list', 'watch', 'get', 'create', 'update', 'patch']));
    console.log(`[client identity] MIC: ${agents[agent ?? ''] ?? 0} requests, all "${agent ?? ''}"; AAI, ${ours.length} Events, Lease and ConfigMap managed by pod-identity-mic`);
  }, 60_000);
});

describe('NMI towards the API server', () => {
  it('removes the startup taint as pod-identity-nmi; every request carries its User-Agent and --custom-user-agent', async () => {
    const node = world().scaleSetNodes[1] ?? '';
    await rawRequest(world().kc, {
      method: 'PATCH',
      path: `/api/v1/nodes/${node}`,
      query: { fieldManager: 'pod-identity-tests' },
      contentType: 'application/merge-patch+json',
      body: { spec: { taints: [{ key: TAINT, value: 'true', effect: 'NoSchedule' }] } },
    });
    const kubeconfig = await world().plane.createClientCertUser('nmi-ua', ['system:masters']);
    nmi = await startNmi(world(), node, [`--kubeconfig=${kubeconfig}`, `--not-ready-taint=${TAINT}`, `--custom-user-agent=${CUSTOM}`]);
    const nodePath = `/api/v1/nodes/${node}`;
    await vi.waitFor(async () => {
      const current = (await get(nodePath)) as KubeObjectWithFields & { spec?: { taints?: { key: string }[] } };
      expect(current.spec?.taints ?? []).toEqual([]);
    }, { timeout: 20_000, interval: 100 });
    // NMI's one write removes the taint, so it owns no field afterwards and the API server keeps no
    // managedFields entry for it; the write itself names the manager.
    const patches = (await requestsBy('nmi-ua')).filter((event) => event.verb === 'patch');
    expect(patches.map((event) => [event.objectRef?.resource, event.responseStatus?.code, new URL(event.requestURI, 'https://x').searchParams.get('fieldManager')])).toEqual([['nodes', 200, 'pod-identity-nmi']]);

    const agents = await userAgentsOf('nmi-ua');
    expect(Object.keys(agents)).toHaveLength(1);
    expect(Object.keys(agents)[0]).toMatch(new RegExp(`^pod-identity-nmi/${VERSIONED} ${CUSTOM.replace(/[()]/g, '\\$&')}$`));
    expect([...new Set((await requestsBy('nmi-ua')).map((event) => event.verb))]).toEqual(expect.arrayContaining(['list', 'watch', 'get', 'patch']));
  }, 60_000);

  it('sends aad-pod-identity/NMI/<version> plus --custom-user-agent to IMDS and to Entra ID (service principal)', async () => {
    const node = world().scaleSetNodes[1] ?? '';
    const ns = await world().namespace('ua-nmi');
    const since = (await world().admin.requests({ limit: 1 })).lastSeq;
    const azure = await world().azureIdentity('ua-nmi-reader');
    await world().createIdentity(ns, 'ua-nmi-reader', { type: 0, resourceID: azure.id, clientID: azure.clientId });
    await world().createBinding(ns, 'ua-nmi-reader-binding', 'ua-nmi-reader', 'ua-nmi-reader');
    await world().createPod(ns, 'msi-app', node, 'ua-nmi-reader', { ip: '127.11.0.2' });
    const secret = `s-${randomUUID()}`;
    const principal = await world().admin.seedServicePrincipal({ displayName: 'ua-nmi-sp', secret });
    await rawRequest(world().kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/secrets`, body: { metadata: { name: 'ua-sp' }, stringData: { clientSecret: secret } } });
    await world().createIdentity(ns, 'ua-sp', { type: 1, tenantID: world().sim.tenantId, clientID: principal.appId, clientPassword: { name: 'ua-sp', namespace: ns }, adEndpoint: world().sim.entraUrl });
    await world().createBinding(ns, 'ua-sp-binding', 'ua-sp', 'ua-sp');
    await world().createPod(ns, 'sp-app', node, 'ua-sp', { ip: '127.11.0.3' });
    if (nmi === undefined) throw new Error('the NMI of the test before is not running');
    for (const ip of ['127.11.0.2', '127.11.0.3']) {
      const answer = await tokenRequest(nmi, ip, { resource: 'https://management.azure.com/' });
      expect(answer.status, answer.text).toBe(200);
    }
    const { entries } = await world().admin.requests({ since });
    const expected = new RegExp(`^aad-pod-identity/NMI/\\d+\\.\\d+\\.\\d+ ${CUSTOM.replace(/[()]/g, '\\$&')}`);
    const imds = entries.filter((entry) => entry.service.startsWith('imds') && entry.path.includes('/oauth2/token'));
    const entra = entries.filter((entry) => entry.service === 'entra' && entry.path.includes('/token'));
    expect(imds.length).toBeGreaterThan(0);
    expect(entra.length).toBeGreaterThan(0);
    for (const entry of imds) expect(entry.userAgent).toMatch(new RegExp(`${expected.source}$`));
    // @azure/identity puts its own product tokens after ours.
    for (const entry of entra) expect(entry.userAgent).toMatch(new RegExp(`${expected.source} azsdk-js-identity/`));
  }, 60_000);
});

describe('the CLI towards the API server', () => {
  it('identity create --apply writes as pod-identity-cli and doctor reads with the CLI’s User-Agent', async () => {
    const group = 'ua-cli-identities';
    await world().admin.seedResourceGroup({ subscriptionId: SUBSCRIPTION, resourceGroup: group });
    const secret = `s-${randomUUID()}`;
    const principal = await world().admin.seedServicePrincipal({ displayName: 'ua-operator', secret });
    await world().namespace('ua-cli');
    const kubeconfig = await world().plane.createClientCertUser('cli-ua', ['system:masters']);
    const created = await cli(
      ['identity', 'create', '--name', 'ua-cli-id', '--resource-group', group, '--namespace', 'ua-cli', '--skip-operator-grant', '--apply', `--cloudconfig=${world().azureJsonPath}`, `--kubeconfig=${kubeconfig}`],
      { AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential', AZURE_CLIENT_ID: principal.appId, AZURE_CLIENT_SECRET: secret, AZURE_TENANT_ID: world().sim.tenantId },
    );
    expect(created.code, created.stderr).toBe(0);
    expect(managers(await get('/apis/aadpodidentity.k8s.io/v1/namespaces/ua-cli/azureidentities/ua-cli-id'))).toEqual(['pod-identity-cli']);
    expect(managers(await get('/apis/aadpodidentity.k8s.io/v1/namespaces/ua-cli/azureidentitybindings/ua-cli-id-binding'))).toEqual(['pod-identity-cli']);

    const doctor = await cli(['doctor', '--migration', `--kubeconfig=${kubeconfig}`, '-o', 'json']);
    expect(doctor.stderr).toBe('');
    const agents = await userAgentsOf('cli-ua');
    expect(Object.keys(agents)).toHaveLength(1);
    expect(Object.keys(agents)[0]).toMatch(new RegExp(`^pod-identity-cli/${VERSIONED}$`));
    expect([...new Set((await requestsBy('cli-ua')).map((event) => event.verb))]).toEqual(expect.arrayContaining(['patch', 'get']));
  }, 60_000);
});
