/**
 * The chart's RBAC, proven against a real API server (a {@link MicWorld}'s, which writes an audit log):
 * `helm install` (the Go-built helm of the test assets), then MIC and NMI run as real processes
 * authenticated with TokenRequest tokens of the chart's own ServiceAccounts — not as admin — through
 * the main scenarios: assignment (AAI Assigned, identity on the scale set, readiness gate), tokens from
 * NMI (managed identity and service principal), an identity edited in place, an identity Azure refuses
 * (repeated Warning Event), an exception pod, an AKS add-on pod (the chart's AKS exception), unassignment, leader election and failover between two
 * MICs, and a `helm upgrade` rolled out as new MIC processes that keep every AAI and write nothing to ARM.
 * Then the audit log: every (verb, resource) each ServiceAccount used, against every rule the chart
 * grants it — nothing granted is unused unless documented below with the reason, nothing was refused.
 * A second release with `rbac.secretNamespaces` scopes NMI's Secret access: a Secret in a listed
 * namespace is served, one elsewhere is refused.
 */
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { rawRequest } from '../../../src/kube/raw-client.ts';
import { uninstallWatch } from '../../../src/nmi/node/uninstall-watch.ts';
import {
  chartNames,
  chartServiceAccountKubeconfig,
  compareRbac,
  grantedTo,
  helm,
  helmInstall,
  helmUpgrade,
  kubectlJson,
  manifestRbacObjects,
  rbacTable,
  secretsReached,
  usedBy,
  type DocumentedException,
  type Grant,
} from '../../support/chart.ts';
import { armRequests, countArm, identityResourceId, lastRequestSeq, MicWorld, waitForHealth, type MicProcess } from '../../support/mic-world.ts';
import { startNmi, tokenRequest, type NmiProcess } from '../../support/nmi-world.ts';

const ARM = 'https://management.azure.com/';
const RELEASE = 'pod-identity';
const NS = 'pod-identity-system';
const NAMES = chartNames(RELEASE);
const MIC_USER = `system:serviceaccount:${NS}:${NAMES.mic}`;
const NMI_USER = `system:serviceaccount:${NS}:${NAMES.nmi}`;
/** The second release: NMI's Secret access scoped to one namespace. */
const SCOPED_RELEASE = 'scoped';
const SCOPED_NS = 'pod-identity-scoped';
const SCOPED_NAMES = chartNames(SCOPED_RELEASE);
const SCOPED_NMI_USER = `system:serviceaccount:${SCOPED_NS}:${SCOPED_NAMES.nmi}`;
const SECRETS_ALLOWED = 'sp-allowed';
const SECRETS_DENIED = 'sp-denied';
const LEASE_NAME = 'aad-pod-identity-mic';
const CONFIG_MAP = 'aad-pod-identity-config';
const TYPE_UPGRADE_KEY = 'type-upgrade-status';
const READY_CONDITION = 'aadpodidentity.k8s.io/identity-ready';
const WAIT = { timeout: 30_000, interval: 200 };

/**
 * Granted but not used by the scenarios, each with the reason the chart grants it anyway. Everything
 * else the chart grants must show up in the audit log.
 */
const MIC_EXCEPTIONS: readonly DocumentedException[] = [
  {
    apiGroup: 'aadpodidentity.k8s.io',
    resource: 'azureassignedidentities',
    verb: 'get',
    reason:
      'only after a create answered 409 (an AAI of that name exists that MIC’s cache has not seen yet): MIC reads it and overwrites it (src/mic/assigned-writer.ts); a race that cannot be staged reliably',
  },
];
// NMI's uninstall watch of its own DaemonSet (apps/daemonsets list/watch) runs in the NMI process only
// when it manages iptables (root, e2e); here the same module runs in-process with NMI's token instead.
const NMI_EXCEPTIONS: readonly DocumentedException[] = [];

let world: MicWorld | undefined;
const mics: MicProcess[] = [];
const nmis: NmiProcess[] = [];
let nmi: NmiProcess;
let node: string;
let webIp: string;
let nextAddress = 1;
const address = (): string => `127.20.${String(Math.floor(nextAddress / 250))}.${String((nextAddress++ % 250) + 1)}`;

function w(): MicWorld {
  if (world === undefined) throw new Error('world not started');
  return world;
}

/** MIC as the chart's Deployment runs it (its namespace, leader election there), with the chart's ServiceAccount token. */
async function startChartMic(name: string): Promise<MicProcess> {
  const kubeconfig = await chartServiceAccountKubeconfig(w().plane, NS, NAMES.mic);
  const mic = await w().startMic(name, [`--kubeconfig=${kubeconfig}`, `--leader-election-namespace=${NS}`], { MIC_POD_NAMESPACE: NS });
  mics.push(mic);
  return mic;
}

/** NMI as the chart's DaemonSet runs it (MIC namespace = the release's), with the chart's ServiceAccount token. */
async function startChartNmi(release: { namespace: string; nmi: string }, onNode: string): Promise<NmiProcess> {
  const kubeconfig = await chartServiceAccountKubeconfig(w().plane, release.namespace, release.nmi);
  const started = await startNmi(w(), onNode, [
    `--kubeconfig=${kubeconfig}`,
    `--MICNamespace=${release.namespace}`,
    '--operation-mode=standard',
    '--retry-attempts-for-created=8',
    '--retry-attempts-for-assigned=4',
    '--find-identity-retry-interval=2',
  ]);
  nmis.push(started);
  return started;
}

/**
 * NMI's uninstall watch (src/nmi/node/uninstall-watch.ts, started by NMI only when it manages iptables) run
 * in-process with the chart's NMI token: it must see the release's DaemonSet and nothing be refused.
 */
async function uninstallWatchSeesDaemonSet(release: { namespace: string; nmi: string }): Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(await chartServiceAccountKubeconfig(w().plane, release.namespace, release.nmi));
  const informer = uninstallWatch({ kubeConfig, namespace: release.namespace, daemonSet: release.nmi, logger: pino({ level: 'silent' }), onUninstall: () => undefined });
  const stop = new AbortController();
  const running = informer.run(stop.signal);
  try {
    await informer.waitForSync(AbortSignal.timeout(10_000));
    expect(informer.hasSynced).toBe(true);
    expect(informer.get(release.nmi)).toBeDefined();
    // Past the list, into the watch.
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    stop.abort();
    await running;
  }
}

async function healthOf(list: readonly MicProcess[]): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(list.map(async (mic) => [mic.name, await w().health(mic)] as const)));
}

/** The one Active MIC among `list`; fails unless exactly one is Active. */
async function leaderAmong(list: readonly MicProcess[]): Promise<MicProcess> {
  let leader: MicProcess | undefined;
  await vi.waitFor(async () => {
    const health = await healthOf(list);
    const active = list.filter((mic) => health[mic.name] === 'Active');
    expect(active.map((mic) => mic.name), JSON.stringify(health)).toHaveLength(1);
    for (const mic of list) if (mic !== active[0]) expect(health[mic.name], JSON.stringify(health)).toBe('Not Active');
    leader = active[0];
  }, WAIT);
  if (leader === undefined) throw new Error('no leader');
  return leader;
}

async function lease(): Promise<{ holderIdentity?: string; leaseTransitions?: number } | undefined> {
  try {
    const raw = (await rawRequest(w().kc, { method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${LEASE_NAME}` })) as { spec?: { holderIdentity?: string; leaseTransitions?: number } };
    return raw.spec;
  } catch {
    return undefined;
  }
}

/** A user-assigned identity in Azure with its AzureIdentity and binding (selector = name). */
async function boundIdentity(namespace: string, name: string): Promise<{ id: string; clientId: string; principalId: string }> {
  await w().namespace(namespace);
  const azure = await w().azureIdentity(`${name}-${randomUUID().slice(0, 6)}`);
  await w().createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await w().createBinding(namespace, `${name}-binding`, name, name);
  return azure;
}

/** A service-principal identity (type 1) whose Secret lives in `secretNamespace`, bound in `namespace` (selector = name). */
async function servicePrincipalIdentity(namespace: string, name: string, secretNamespace: string): Promise<{ appId: string }> {
  await w().namespace(namespace);
  await w().namespace(secretNamespace);
  const secret = `s-${randomUUID()}`;
  const principal = await w().admin.seedServicePrincipal({ displayName: name, secret });
  await rawRequest(w().kc, { method: 'POST', path: `/api/v1/namespaces/${secretNamespace}/secrets`, body: { metadata: { name: `${name}-secret` }, stringData: { clientSecret: secret } } });
  await w().createIdentity(namespace, name, { type: 1, tenantID: w().sim.tenantId, clientID: principal.appId, clientPassword: { name: `${name}-secret`, namespace: secretNamespace }, adEndpoint: w().sim.entraUrl });
  await w().createBinding(namespace, `${name}-binding`, name, name);
  return principal;
}

async function waitState(namespace: string, pod: string, state: string, timeout = 30_000): Promise<void> {
  await vi.waitFor(async () => {
    expect((await w().assignedFor(namespace, pod)).map((entry) => entry.status?.status)).toEqual([state]);
  }, { timeout, interval: 200 });
}

interface RawAssigned { metadata: { namespace: string; name: string; uid: string; resourceVersion: string } }

async function assignedSnapshot(): Promise<Map<string, { uid: string; resourceVersion: string }>> {
  const list = (await rawRequest(w().kc, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/azureassignedidentities' })) as { items: RawAssigned[] };
  return new Map(list.items.map((item) => [`${item.metadata.namespace}/${item.metadata.name}`, { uid: item.metadata.uid, resourceVersion: item.metadata.resourceVersion }]));
}

beforeAll(async () => {
  world = await MicWorld.start({ scaleSetNodes: 2, vmNodes: 1, lroDurationMs: { vm: 200, vmss: 300 } });
  // Namespaces a release's Roles go into must exist before `helm install`.
  await w().namespace(SECRETS_ALLOWED);
  await w().namespace(SECRETS_DENIED);
  await helmInstall(w().plane, RELEASE, NS, { 'rbac.enabled': 'true' });
  await helmInstall(w().plane, SCOPED_RELEASE, SCOPED_NS, { 'rbac.enabled': 'true', 'rbac.secretNamespaces': `{${SECRETS_ALLOWED}}` });
  node = w().scaleSetNodes[0] ?? '';
}, 180_000);

afterAll(async () => {
  if (process.env['CHART_TEST_LOGS'] === '1') {
    for (const mic of mics) console.log(`--- ${mic.name}\n${mic.output()}`);
    for (const agent of nmis) console.log(`--- nmi ${agent.node}\n${agent.output()}`);
  }
  await Promise.all(nmis.map((agent) => agent.stop()));
  await world?.stop();
});

describe('helm install with rbac.enabled=true, MIC and NMI with the chart’s ServiceAccount tokens', () => {
  let first: MicProcess;
  let second: MicProcess;
  let leader: MicProcess;
  let standby: MicProcess;
  let main: { id: string; clientId: string; principalId: string };

  it('the release installed the ServiceAccounts and RBAC the test reads back, and nothing wildcard', async () => {
    const manifest = await helm(w().plane, ['get', 'manifest', RELEASE, '-n', NS]);
    const inManifest = new Set(manifestRbacObjects(manifest).filter((object) => object.kind.endsWith('Binding')).map((object) => `${object.kind}/${object.kind === 'RoleBinding' ? `${object.namespace ?? NS}/` : ''}${object.name}`));
    const bound: string[] = [];
    for (const sa of [NAMES.mic, NAMES.nmi]) {
      // grantedTo throws on wildcard and non-resource rules.
      const granted = await grantedTo(w().plane, NS, sa);
      expect(granted.grants.length).toBeGreaterThan(0);
      // Every binding naming the ServiceAccount is the release's own, and in its rendered manifest.
      expect(new Set(granted.releases)).toEqual(new Set([RELEASE]));
      bound.push(...granted.bindings);
    }
    expect(new Set(bound)).toEqual(inManifest);
  });

  it('two MICs with the MIC ServiceAccount token: one Active, the Lease in the release namespace names it', async () => {
    first = await startChartMic('mic-a');
    second = await startChartMic('mic-b');
    leader = await leaderAmong([first, second]);
    standby = leader === first ? second : first;
    expect((await lease())?.holderIdentity).toBe(leader.name);
    // The type-upgrade ConfigMap was recorded in MIC's namespace.
    const configMap = await kubectlJson<{ data?: Record<string, string> }>(w().plane, ['get', 'configmap', CONFIG_MAP, '-n', NS]);
    expect(configMap.data?.[TYPE_UPGRADE_KEY]).toBeDefined();
  }, 90_000);

  it('NMI with the NMI ServiceAccount token syncs its caches and serves; its uninstall watch sees its DaemonSet', async () => {
    nmi = await startChartNmi({ namespace: NS, nmi: NAMES.nmi }, node);
    await uninstallWatchSeesDaemonSet({ namespace: NS, nmi: NAMES.nmi });
  }, 60_000);

  it('assign: AAI Assigned, the identity on the scale set, the readiness gate True, a token from NMI naming it', async () => {
    main = await boundIdentity('app', 'main');
    const ip = address();
    webIp = ip;
    await w().createPod('app', 'web', node, 'main', { ip, readinessGate: true });
    await waitState('app', 'web', 'Assigned');
    expect(w().scaleSetIdentities()).toContain(main.id.toLowerCase());
    await vi.waitFor(async () => { expect(await w().podCondition('app', 'web', READY_CONDITION)).toMatchObject({ status: 'True' }); }, WAIT);
    const response = await tokenRequest(nmi, ip, { resource: ARM });
    expect(response.status, response.text).toBe(200);
    const claims = decodeJwt(String(response.json()['access_token']));
    expect(claims['appid']).toBe(main.clientId);
    expect(claims['oid']).toBe(main.principalId);
  }, 60_000);

  it('a service principal identity: NMI reads the Secret the identity references and serves its token', async () => {
    const principal = await servicePrincipalIdentity('sp-app', 'sp', 'sp-secrets');
    const ip = address();
    await w().createPod('sp-app', 'worker', node, 'sp', { ip });
    await waitState('sp-app', 'worker', 'Assigned');
    const response = await tokenRequest(nmi, ip, { resource: ARM });
    expect(response.status, response.text).toBe(200);
    expect(decodeJwt(String(response.json()['access_token']))['appid']).toBe(principal.appId);
  }, 60_000);

  it('an exception pod gets a token from the node’s IMDS', async () => {
    await w().namespace('agents');
    await w().apply({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzurePodIdentityException', metadata: { name: 'agent', namespace: 'agents' }, spec: { podLabels: { app: 'agent' } } });
    const ip = address();
    await rawRequest(w().kc, {
      method: 'POST',
      path: '/api/v1/namespaces/agents/pods',
      body: { metadata: { name: 'agent', labels: { app: 'agent' } }, spec: { nodeName: node, containers: [{ name: 'c', image: 'example.invalid/a:1' }] } },
    });
    await w().setPodPhase('agents', 'agent', 'Running', ip);
    await vi.waitFor(async () => {
      const response = await tokenRequest(nmi, ip, { resource: ARM, client_id: main.clientId });
      expect(response.status, response.text).toBe(200);
    }, WAIT);
    await vi.waitFor(() => {
      const audit = nmi.audits().map((record) => record['audit'] as Record<string, unknown>).findLast((entry) => entry['pod'] === 'agent');
      expect(audit?.['identity']).toBe('node (exception)');
    }, WAIT);
  }, 60_000);

  it('an AKS add-on pod in kube-system (kubernetes.azure.com/managedby: aks) gets a token from the node’s IMDS through the chart’s AKS add-on exception', async () => {
    const ip = address();
    await rawRequest(w().kc, {
      method: 'POST',
      path: '/api/v1/namespaces/kube-system/pods',
      body: { metadata: { name: 'azure-policy-addon', labels: { 'kubernetes.azure.com/managedby': 'aks' } }, spec: { nodeName: node, containers: [{ name: 'c', image: 'example.invalid/a:1' }] } },
    });
    await w().setPodPhase('kube-system', 'azure-policy-addon', 'Running', ip);
    await vi.waitFor(async () => {
      const response = await tokenRequest(nmi, ip, { resource: ARM, client_id: main.clientId });
      expect(response.status, response.text).toBe(200);
    }, WAIT);
    await vi.waitFor(() => {
      const audit = nmi.audits().map((record) => record['audit'] as Record<string, unknown>).findLast((entry) => entry['pod'] === 'azure-policy-addon');
      expect(audit?.['identity']).toBe('node (exception)');
    }, WAIT);
  }, 60_000);

  it('an identity edited in place: MIC rewrites the AAI (update) and moves the scale set to the new identity', async () => {
    const before = await boundIdentity('edit', 'editable');
    await w().createPod('edit', 'app', node, 'editable', { ip: address() });
    await waitState('edit', 'app', 'Assigned');
    const after = await w().azureIdentity(`edited-${randomUUID().slice(0, 6)}`);
    await w().createIdentity('edit', 'editable', { type: 0, resourceID: after.id, clientID: after.clientId });
    await vi.waitFor(async () => {
      const [assigned] = await w().assignedFor('edit', 'app');
      expect(assigned?.spec.azureIdentityRef?.spec.clientID).toBe(after.clientId);
      expect(assigned?.status?.status).toBe('Assigned');
      expect(w().scaleSetIdentities()).toContain(after.id.toLowerCase());
    }, WAIT);
    await vi.waitFor(() => { expect(w().scaleSetIdentities()).not.toContain(before.id.toLowerCase()); }, WAIT);
  }, 60_000);

  it('an identity Azure refuses: a Warning Event on the binding, repeated (the Event’s count goes up)', async () => {
    await w().namespace('refused');
    const missing = identityResourceId('does-not-exist');
    await w().createIdentity('refused', 'ghost', { type: 0, resourceID: missing, clientID: randomUUID() });
    await w().createBinding('refused', 'ghost-binding', 'ghost', 'ghost');
    const vm = w().vmNodes[0] ?? '';
    await w().createPod('refused', 'app', vm, 'ghost');
    await vi.waitFor(async () => {
      const list = (await rawRequest(w().kc, { method: 'GET', path: '/api/v1/namespaces/refused/events' })) as { items: { type: string; count?: number; involvedObject: { name: string } }[] };
      const warning = list.items.find((event) => event.type === 'Warning' && event.involvedObject.name === 'ghost-binding');
      expect(warning?.count ?? 0).toBeGreaterThanOrEqual(2);
    }, { timeout: 45_000, interval: 500 });
    // Gone again, so the upgrade below starts from a converged state.
    await w().deletePod('refused', 'app');
    await vi.waitFor(async () => { expect(await w().assignedFor('refused', 'app')).toEqual([]); }, WAIT);
  }, 90_000);

  it('unassign: the pod goes, its AAI goes and the identity leaves the scale set', async () => {
    const gone = await w().azureIdentity(`gone-${randomUUID().slice(0, 6)}`);
    await w().createIdentity('edit', 'transient', { type: 0, resourceID: gone.id, clientID: gone.clientId });
    await w().createBinding('edit', 'transient-binding', 'transient', 'transient');
    await w().createPod('edit', 'short', node, 'transient', { ip: address() });
    await waitState('edit', 'short', 'Assigned');
    expect(w().scaleSetIdentities()).toContain(gone.id.toLowerCase());
    await w().deletePod('edit', 'short');
    await w().deletePod('edit', 'app');
    await vi.waitFor(async () => {
      expect(await w().assignedFor('edit', 'short')).toEqual([]);
      expect(await w().assignedFor('edit', 'app')).toEqual([]);
      expect(w().scaleSetIdentities()).not.toContain(gone.id.toLowerCase());
    }, WAIT);
  }, 60_000);

  it('leader election: the leader SIGKILLed, the standby takes the Lease and keeps the assignments', async () => {
    const before = await lease();
    leader.child.kill('SIGKILL');
    await waitForHealth(w(), standby, 'Active', 20_000);
    await vi.waitFor(async () => { expect((await lease())?.holderIdentity).toBe(standby.name); }, WAIT);
    expect((await lease())?.leaseTransitions ?? 0).toBeGreaterThan(before?.leaseTransitions ?? 0);
    leader = standby;
    expect((await w().assignedFor('app', 'web')).map((entry) => entry.status?.status)).toEqual(['Assigned']);
  }, 60_000);

  it('helm upgrade with changed values, rolled out as new MIC processes: same AAIs (UIDs, versions), zero ARM writes', async () => {
    // A ConfigMap without the type-upgrade key (as an older writer leaves it): the new MIC adds the key.
    const removed = await w().plane.kubectl(['patch', 'configmap', CONFIG_MAP, '-n', NS, '--type=json', '-p', JSON.stringify([{ op: 'remove', path: `/data/${TYPE_UPGRADE_KEY}` }])]);
    expect(removed.code, removed.stderr).toBe(0);
    const grantsBefore = await grantedTo(w().plane, NS, NAMES.mic);
    const before = await assignedSnapshot();
    expect(before.size).toBeGreaterThan(0);
    const scaleSetBefore = w().scaleSetIdentities();

    await helmUpgrade(w().plane, RELEASE, NS, { 'mic.podAnnotations.rollout': 'two', 'mic.tag': '0.1.1' });
    const deployment = await kubectlJson<{ spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: { image: string }[] } } } }>(w().plane, ['get', 'deployment', NAMES.mic, '-n', NS]);
    expect(deployment.spec.template.metadata.annotations?.['rollout']).toBe('two');
    expect(deployment.spec.template.spec.containers[0]?.image).toMatch(/:0\.1\.1$/);
    const history = JSON.parse(await helm(w().plane, ['history', RELEASE, '-n', NS, '-o', 'json'])) as { revision: number; status: string }[];
    expect(history.map((entry) => [entry.revision, entry.status])).toEqual([[1, 'superseded'], [2, 'deployed']]);
    expect((await grantedTo(w().plane, NS, NAMES.mic)).grants).toEqual(grantsBefore.grants);

    // The rollout: new replicas (fresh tokens of the same ServiceAccount) come up, the old one stops.
    const since = await lastRequestSeq(w());
    const next = [await startChartMic('mic-v2-a'), await startChartMic('mic-v2-b')];
    await vi.waitFor(async () => {
      const health = await healthOf(next);
      expect(Object.values(health).sort()).toEqual(['Not Active', 'Not Active']);
    }, WAIT);
    await leader.stop();
    const newLeader = await leaderAmong(next);
    await vi.waitFor(async () => { expect((await lease())?.holderIdentity).toBe(newLeader.name); }, WAIT);
    // Several reconcile passes of the new leader (its informers synced, every target looked at).
    await vi.waitFor(async () => {
      const metrics = await w().metrics(newLeader);
      expect(metrics).toMatch(/aadpodidentity_mic_cycle_count [1-9]/);
    }, WAIT);
    await new Promise((resolve) => setTimeout(resolve, 5_000));

    const after = await assignedSnapshot();
    expect(after).toEqual(before);
    expect(w().scaleSetIdentities()).toEqual(scaleSetBefore);
    const arm = countArm(await armRequests(w(), since));
    expect(arm.writes).toBe(0);
    const configMap = await kubectlJson<{ data?: Record<string, string> }>(w().plane, ['get', 'configmap', CONFIG_MAP, '-n', NS]);
    expect(configMap.data?.[TYPE_UPGRADE_KEY]).toBeDefined();
    // NMI (not restarted: the DaemonSet did not change) still serves the pod.
    const response = await tokenRequest(nmi, webIp, { resource: ARM });
    expect(response.status, response.text).toBe(200);
    console.log(`[chart/upgrade] revision 2 rolled out as ${next.map((mic) => mic.name).join(', ')} (leader ${newLeader.name}): ${after.size} AAIs kept (same UIDs and resourceVersions), ARM after the takeover: ${arm.writes} writes, ${arm.reads} reads`);
  }, 120_000);
});

describe('rbac.secretNamespaces: NMI’s Secret access scoped to listed namespaces', () => {
  let scoped: NmiProcess;
  let scopedNode: string;

  it('the scoped release grants Secrets only through a Role in the listed namespace', async () => {
    const granted = await grantedTo(w().plane, SCOPED_NS, SCOPED_NAMES.nmi);
    const secrets = granted.grants.filter((grant) => grant.resource === 'secrets');
    expect(secrets.map((grant) => `${grant.verb} ${grant.namespace}`).sort()).toEqual([`list ${SECRETS_ALLOWED}`, `watch ${SECRETS_ALLOWED}`]);
    scopedNode = w().scaleSetNodes[1] ?? '';
    scoped = await startChartNmi({ namespace: SCOPED_NS, nmi: SCOPED_NAMES.nmi }, scopedNode);
    await uninstallWatchSeesDaemonSet({ namespace: SCOPED_NS, nmi: SCOPED_NAMES.nmi });
  }, 60_000);

  it('serves an identity whose Secret is in a listed namespace; refuses one whose Secret is elsewhere', async () => {
    const allowed = await servicePrincipalIdentity('scoped-apps', 'allowed', SECRETS_ALLOWED);
    await servicePrincipalIdentity('scoped-apps', 'denied', SECRETS_DENIED);
    const allowedIp = address();
    const deniedIp = address();
    await w().createPod('scoped-apps', 'allowed', scopedNode, 'allowed', { ip: allowedIp });
    await w().createPod('scoped-apps', 'denied', scopedNode, 'denied', { ip: deniedIp });
    await waitState('scoped-apps', 'allowed', 'Assigned');
    await waitState('scoped-apps', 'denied', 'Assigned');
    const ok = await tokenRequest(scoped, allowedIp, { resource: ARM });
    expect(ok.status, ok.text).toBe(200);
    expect(decodeJwt(String(ok.json()['access_token']))['appid']).toBe(allowed.appId);
    const refused = await tokenRequest(scoped, deniedIp, { resource: ARM });
    expect(refused.status, refused.text).toBe(503);
    expect(refused.json()).not.toHaveProperty('access_token');
    expect(String(refused.json()['error_description'])).toContain(`${SECRETS_DENIED}/denied-secret`);
    console.log(`[chart/secretNamespaces] Secret in ${SECRETS_DENIED}: ${String(refused.status)} ${refused.text}`);
  }, 60_000);
});

describe('least privilege: what the ServiceAccounts used (audit log) against what the chart grants', () => {
  /** Audit-log users → their grants, documented exceptions, and the 403s the scenarios expect. */
  async function check(component: string, user: string, namespace: string, serviceAccount: string, exceptions: readonly DocumentedException[], expectRefused: (use: { resource: string; namespace: string }) => boolean = () => false): Promise<void> {
    const { grants } = await grantedTo(w().plane, namespace, serviceAccount);
    const { uses, nonResource } = await usedBy(w().plane.auditLogPath, user);
    expect(uses.length, `${user} made no requests`).toBeGreaterThan(0);
    const comparison = compareRbac(grants, uses, exceptions);
    console.log(`[chart/rbac] ${rbacTable(component, comparison)}${nonResource.length > 0 ? `\nnon-resource requests: ${nonResource.join(', ')}` : ''}`);
    if (comparison.exceptionsUsed.length > 0) console.log(`[chart/rbac] ${component}: documented as unused but used: ${comparison.exceptionsUsed.map((entry) => `${entry.verb} ${entry.resource}`).join(', ')}`);
    const label = (grant: Grant): string => `${grant.verb} ${grant.apiGroup === '' ? '' : `${grant.apiGroup}/`}${grant.resource} (${grant.source})`;
    expect(comparison.unusedUndocumented.map(label), `${component}: granted but never used`).toEqual([]);
    expect(comparison.usedUngranted.map((use) => `${use.verb} ${use.resource} ${use.namespace}`), `${component}: used without a chart grant`).toEqual([]);
    const refused = comparison.refused.map((use) => ({ verb: use.verb, resource: use.resource, namespace: use.namespace }));
    expect(refused.filter((use) => !expectRefused(use)), `${component}: refused requests`).toEqual([]);
  }

  it('MIC: every granted rule used (or documented), nothing refused', async () => {
    await Promise.all(mics.map((mic) => mic.stop()));
    await check('MIC', MIC_USER, NS, NAMES.mic, MIC_EXCEPTIONS);
  });

  it('NMI: every granted rule used (or documented), nothing refused; only the referenced Secret read', async () => {
    await check('NMI', NMI_USER, NS, NAMES.nmi, NMI_EXCEPTIONS);
    // Cluster-wide list/watch is granted, but each request names the one Secret an SP identity references.
    expect(secretsReached((await usedBy(w().plane.auditLogPath, NMI_USER)).events)).toEqual(['sp-secrets/sp-secret']);
  });

  it('NMI with rbac.secretNamespaces: the Role in the listed namespace used; refused only for the Secret outside it', async () => {
    const { uses, events } = await usedBy(w().plane.auditLogPath, SCOPED_NMI_USER);
    expect(secretsReached(events)).toEqual([`${SECRETS_ALLOWED}/allowed-secret`, `${SECRETS_DENIED}/denied-secret`]);
    expect(uses.filter((use) => use.codes.has(403)).map((use) => `${use.verb} ${use.resource} ${use.namespace}`).sort()).toEqual([`list secrets ${SECRETS_DENIED}`]);
    await check('NMI (secretNamespaces)', SCOPED_NMI_USER, SCOPED_NS, SCOPED_NAMES.nmi, NMI_EXCEPTIONS, (use) => use.resource === 'secrets' && use.namespace === SECRETS_DENIED);
  });
});
