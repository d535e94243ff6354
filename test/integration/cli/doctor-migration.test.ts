/**
 * `pod-identity doctor --migration` against a real API server: objects in the shapes an aad-pod-identity
 * install and ours leave (upstream's MIC Deployment and NMI DaemonSet by image, its Endpoints leader
 * lock, our chart's workloads with or without migration mode), walked through the stages of
 * docs/migration.md. The objects are removed after each test (other files share this API server).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import type { MigrationReport } from '../../../src/cli/doctor/migration.ts';
import { rawRequest } from '../../../src/kube/raw-client.ts';
import { controlPlane, kubeConfig, uniqueNamespace } from '../../harness/context.ts';

let upstreamNs = '';
let oursNs = '';
const created: string[] = [];

async function create(path: string, body: Record<string, unknown>): Promise<void> {
  await rawRequest(kubeConfig(), { method: 'POST', path, body });
  const name = (body['metadata'] as { name: string }).name;
  created.push(`${path}/${name}`);
}

async function setStatus(path: string, status: Record<string, unknown>): Promise<void> {
  await rawRequest(kubeConfig(), { method: 'PATCH', path: `${path}/status`, contentType: 'application/merge-patch+json', body: { status } });
}

const container = (image: string, args: string[]): Record<string, unknown> => ({ containers: [{ name: 'c', image, args }] });
const labels = (extra: Record<string, string> = {}): Record<string, string> => ({ app: 'x', ...extra });

async function deployment(namespace: string, name: string, image: string, args: string[], objectLabels: Record<string, string> = {}): Promise<void> {
  const path = `/apis/apps/v1/namespaces/${namespace}/deployments`;
  await create(path, { metadata: { name, labels: objectLabels }, spec: { replicas: 1, selector: { matchLabels: labels() }, template: { metadata: { labels: labels() }, spec: container(image, args) } } });
  await setStatus(`${path}/${name}`, { replicas: 1, readyReplicas: 1 });
}

async function daemonSet(namespace: string, name: string, image: string, args: string[], ready: number, objectLabels: Record<string, string> = {}): Promise<void> {
  const path = `/apis/apps/v1/namespaces/${namespace}/daemonsets`;
  await create(path, { metadata: { name, labels: objectLabels }, spec: { selector: { matchLabels: labels() }, template: { metadata: { labels: labels() }, spec: container(image, args) } } });
  await setStatus(`${path}/${name}`, { desiredNumberScheduled: 2, numberReady: ready, currentNumberScheduled: 2, numberMisscheduled: 0 });
}

/** Upstream MIC's lock as client-go writes it, renewed `ageSeconds` ago. */
async function endpointsLock(namespace: string, holder: string, ageSeconds: number): Promise<void> {
  const renew = new Date(Date.now() - ageSeconds * 1000).toISOString();
  const record = { holderIdentity: holder, leaseDurationSeconds: 15, acquireTime: renew, renewTime: renew, leaderTransitions: 0 };
  await create(`/api/v1/namespaces/${namespace}/endpoints`, { metadata: { name: 'aad-pod-identity-mic', annotations: { 'control-plane.alpha.kubernetes.io/leader': JSON.stringify(record) } } });
}

async function lease(namespace: string, holder: string): Promise<void> {
  await create(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, { metadata: { name: 'aad-pod-identity-mic' }, spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime: new Date().toISOString().replace('Z', '000Z') } });
}

async function doctor(): Promise<{ code: number; report: MigrationReport; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) }, shutdown: new AbortController().signal };
  const code = await main(['doctor', '--migration', '-o', 'json', `--kubeconfig=${controlPlane().kubeconfigPath}`], io);
  return { code, report: JSON.parse(stdout === '' ? '{}' : stdout) as MigrationReport, stderr };
}

const UPSTREAM_MIC = 'mcr.microsoft.com/oss/azure/aad-pod-identity/mic:v1.8.17';
const UPSTREAM_NMI = 'mcr.microsoft.com/oss/azure/aad-pod-identity/nmi:v1.8.17';
const OUR_LABELS = { 'app.kubernetes.io/name': 'pod-identity' };

async function upstreamRunning(): Promise<void> {
  await deployment(upstreamNs, 'mic', UPSTREAM_MIC, ['--cloudconfig=/etc/kubernetes/azure.json', '--logtostderr']);
  await daemonSet(upstreamNs, 'nmi', UPSTREAM_NMI, ['--node=$(NODE_NAME)', '--http-probe-port=8085'], 2);
  await endpointsLock(upstreamNs, 'mic-7d9c5b-abcde', 1);
}

async function oursInMigrationMode(nmiReady = 2): Promise<void> {
  await deployment(oursNs, 'pod-identity-mic', 'localhost/pod-identity-mic:0.1.0', ['--leader-election-namespace=' + upstreamNs, '--leader-election-resource-lock=endpointsleases', '--leader-election-name=aad-pod-identity-mic'], OUR_LABELS);
  await daemonSet(oursNs, 'pod-identity-nmi', 'localhost/pod-identity-nmi:0.1.0', ['--ipt-chain=pod-identity-metadata', '--http-probe-port=8086'], nmiReady, OUR_LABELS);
}

beforeAll(async () => {
  upstreamNs = await uniqueNamespace('upstream');
  oursNs = await uniqueNamespace('ours');
});

afterEach(async () => {
  for (const path of created.splice(0).reverse()) await rawRequest(kubeConfig(), { method: 'DELETE', path }).catch(() => undefined);
});

describe('pod-identity doctor --migration', () => {
  it('upstream running, our CRDs in place, ours not installed: step 2', async () => {
    await upstreamRunning();
    const { code, report, stderr } = await doctor();
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(report.stage).toBe('crds-replaced');
    expect(report.next).toMatch(/^step 2: helm install pod-identity with --set migration.fromAadPodIdentity.enabled=true/);
  });

  it('side by side, set up for the switch, NMI not yet Ready everywhere: wait; then Ready: step 3', async () => {
    await upstreamRunning();
    await oursInMigrationMode(1);
    const waiting = await doctor();
    expect(waiting.report).toMatchObject({ stage: 'side-by-side', healthy: true });
    expect(waiting.report.next).toMatch(/^wait until pod-identity’s NMI is Ready on every node/);
    await setStatus(`/apis/apps/v1/namespaces/${oursNs}/daemonsets/pod-identity-nmi`, { numberReady: 2 });
    const ready = await doctor();
    expect(ready.code).toBe(0);
    expect(ready.report.next).toMatch(/^step 3: remove aad-pod-identity/);
  });

  it('side by side with ours in default settings: exit 1 naming the lock and the chain', async () => {
    await upstreamRunning();
    await deployment(oursNs, 'pod-identity-mic', 'localhost/pod-identity-mic:0.1.0', ['--leader-election-namespace=' + oursNs], OUR_LABELS);
    await daemonSet(oursNs, 'pod-identity-nmi', 'localhost/pod-identity-nmi:0.1.0', ['--http-probe-port=8085'], 2, OUR_LABELS);
    const { code, report } = await doctor();
    expect(code).toBe(1);
    expect(report.checks.filter((check) => check.status === 'fail').map((check) => check.name)).toEqual(['mic-lock', 'nmi-chain']);
  });

  it('upstream gone, ours holding the Endpoints lock with its Lease: step 4; with a stale lock and default settings: done', async () => {
    await oursInMigrationMode();
    await endpointsLock(upstreamNs, 'pod-identity-mic-6c-xyz', 1);
    await lease(upstreamNs, 'pod-identity-mic-6c-xyz');
    const switched = await doctor();
    expect(switched.report.stage).toBe('switched-coexistence-settings');
    expect(switched.report.next).toMatch(/^step 4: /);
    for (const path of created.splice(0).reverse()) await rawRequest(kubeConfig(), { method: 'DELETE', path });
    await deployment(oursNs, 'pod-identity-mic', 'localhost/pod-identity-mic:0.1.0', [], OUR_LABELS);
    await daemonSet(oursNs, 'pod-identity-nmi', 'localhost/pod-identity-nmi:0.1.0', [], 2, OUR_LABELS);
    await endpointsLock(upstreamNs, 'pod-identity-mic-6c-xyz', 120);
    const done = await doctor();
    expect(done.report.stage).toBe('done');
    expect(done.report.next).toContain(`kubectl delete endpoints -n ${upstreamNs} aad-pod-identity-mic`);
  });
});
