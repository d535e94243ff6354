import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import type { DoctorReport, StepId } from '../../../src/cli/doctor/model.ts';
import { rawRequest } from '../../../src/kube/raw-client.ts';
import { repoRoot } from '../../../src/devenv/binaries.ts';
import { useMicWorld } from '../../support/mic-suite.ts';
import { eventsAbout, SUBSCRIPTION, type MicWorld } from '../../support/mic-world.ts';

// `pod-identity doctor` against a real API server, a real MIC and the Azure simulator (RBAC enforced):
// a healthy pod exits 0, and each broken set-up is named by its first failing step, exit 1.

const suite = useMicWorld({ enforceRbac: true, scaleSetNodes: 3, vmNodes: 1 });
const w = (): MicWorld => suite.world();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function doctor(args: readonly string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) }, shutdown: new AbortController().signal };
  const code = await main(['doctor', ...args], io);
  return { code, stdout, stderr };
}

/** doctor -o json with the world's kubeconfig and azure.json (MIC's own service principal). */
async function report(pod: string, namespace: string, extra: readonly string[] = []): Promise<{ code: number; report: DoctorReport; text: () => Promise<string> }> {
  const common = [pod, '-n', namespace, `--kubeconfig=${w().plane.kubeconfigPath}`, `--cloudconfig=${w().azureJsonPath}`, ...extra];
  const run = await doctor([...common, '-o', 'json']);
  if (run.stderr !== '') throw new Error(run.stderr);
  return { code: run.code, report: JSON.parse(run.stdout) as DoctorReport, text: async () => (await doctor(common)).stdout };
}

const status = (doctorReport: DoctorReport, id: StepId): string | undefined => doctorReport.steps.find((step) => step.id === id)?.status;

async function createNmiPod(node: string, ready: boolean): Promise<void> {
  const name = `nmi-${node}`;
  await rawRequest(w().kc, {
    method: 'POST',
    path: '/api/v1/namespaces/kube-system/pods',
    body: {
      metadata: { name, labels: { 'app.kubernetes.io/name': 'pod-identity', 'app.kubernetes.io/component': 'nmi' } },
      spec: { nodeName: node, hostNetwork: true, containers: [{ name: 'nmi', image: 'example.invalid/nmi:1' }] },
    },
  });
  await rawRequest(w().kc, {
    method: 'PATCH',
    path: `/api/v1/namespaces/kube-system/pods/${name}/status`,
    contentType: 'application/merge-patch+json',
    body: { status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? undefined : 'ContainersNotReady', message: ready ? undefined : 'containers with unready status: [nmi]' }] } },
  });
}

/** An Azure identity (in `group`), its AzureIdentity and a binding selecting `selector`. */
async function bound(namespace: string, name: string, selector = name, group?: string): Promise<{ id: string }> {
  const azure = group === undefined ? await w().azureIdentity(name) : await w().admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: group, name });
  await w().createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await w().createBinding(namespace, `${name}-binding`, name, selector);
  return azure;
}

async function waitAssigned(namespace: string, pod: string, state = 'Assigned'): Promise<void> {
  await vi.waitFor(async () => {
    expect((await w().assignedFor(namespace, pod)).map((entry) => entry.status?.status)).toEqual([state]);
  }, { timeout: 30_000, interval: 100 });
}

let nmiDownNode = '';

beforeAll(async () => {
  await w().namespace('kube-system');
  const [node0, node1, node2] = w().scaleSetNodes as [string, string, string];
  nmiDownNode = node2;
  for (const node of [node0, node1, ...w().vmNodes]) await createNmiPod(node, true);
  await createNmiPod(node2, false);
}, 60_000);

describe('pod-identity doctor', () => {
  it('healthy: every step ok, exit 0', async () => {
    const ns = await w().namespace('healthy');
    await bound(ns, 'healthy-id', 'healthy');
    await w().createPod(ns, 'web', w().scaleSetNodes[0]!, 'healthy');
    await waitAssigned(ns, 'web');
    const { code, report: result, text } = await report('web', ns);
    expect(result.steps.filter((step) => step.status !== 'ok').map((step) => `${step.id}: ${step.status} ${step.detail}`)).toEqual([]);
    expect(result.healthy).toBe(true);
    expect(code).toBe(0);
    console.log(`[doctor] healthy:\n${await text()}`);
  });

  it('no label', async () => {
    const ns = await w().namespace('nolabel');
    await bound(ns, 'nolabel-id', 'nolabel');
    await w().createPod(ns, 'web', w().scaleSetNodes[0]!, undefined);
    const { code, report: result } = await report('web', ns);
    expect([code, result.firstFailure]).toEqual([1, 'label']);
    expect(result.steps.find((step) => step.id === 'label')?.fix).toContain('nolabel');
  });

  it('selector mismatch', async () => {
    const ns = await w().namespace('mismatch');
    await bound(ns, 'mismatch-id', 'frontend');
    await w().createPod(ns, 'web', w().scaleSetNodes[0]!, 'Frontend');
    const { code, report: result } = await report('web', ns);
    expect([code, result.firstFailure]).toEqual([1, 'bindings']);
    expect(result.steps.find((step) => step.id === 'bindings')?.detail).toContain('differs only in case');
  });

  it('identity missing', async () => {
    const ns = await w().namespace('ghost');
    await w().createBinding(ns, 'ghost-binding', 'ghost-id', 'ghost');
    await w().createPod(ns, 'web', w().scaleSetNodes[0]!, 'ghost');
    const { code, report: result } = await report('web', ns);
    expect([code, result.firstFailure]).toEqual([1, 'identity']);
    expect(result.steps.find((step) => step.id === 'identity')?.fix).toContain('Create AzureIdentity "ghost-id" in namespace ghost');
  });

  it('wrong namespace under namespaced mode (--namespaced)', async () => {
    const shared = await w().namespace('shared');
    await bound(shared, 'shared-id', 'shared');
    const ns = await w().namespace('client');
    await w().createPod(ns, 'web', w().scaleSetNodes[0]!, 'shared');
    const { code, report: result } = await report('web', ns, ['--namespaced']);
    expect([code, result.firstFailure]).toEqual([1, 'namespaced']);
    expect(result.mode).toMatchObject({ forceNamespaced: true, source: 'flag' });
    expect(result.steps.find((step) => step.id === 'namespaced')?.detail).toContain('must be in namespace shared');
  });

  it('AAI stuck Created because ARM denied the assignment (MIC lacks Managed Identity Operator)', async () => {
    const ns = await w().namespace('denied');
    await w().admin.seedResourceGroup({ subscriptionId: SUBSCRIPTION, resourceGroup: 'locked-identities' });
    await bound(ns, 'denied-id', 'denied', 'locked-identities');
    await w().createPod(ns, 'web', w().vmNodes[0]!, 'denied');
    await vi.waitFor(async () => {
      const events = await eventsAbout(w(), ns, 'AzureIdentityBinding', 'denied-id-binding');
      expect(events.some((event) => event.reason === 'binding apply error')).toBe(true);
    }, { timeout: 30_000, interval: 200 });
    await waitAssigned(ns, 'web', 'Created');
    const { code, report: result, text } = await report('web', ns);
    expect([code, result.firstFailure]).toEqual([1, 'assigned']);
    const assigned = result.steps.find((step) => step.id === 'assigned');
    expect(assigned?.detail).toContain('stuck in Created');
    expect(assigned?.detail).toContain('binding apply error');
    expect(status(result, 'role')).toBe('fail');
    expect(result.steps.find((step) => step.id === 'role')?.fix).toContain('Managed Identity Operator');
    console.log(`[doctor] ARM denied:\n${await text()}`);
  });

  it('identity not on the VMSS', async () => {
    const ns = await w().namespace('drifted');
    const azure = await bound(ns, 'drifted-id', 'drifted');
    await w().createPod(ns, 'web', w().scaleSetNodes[1]!, 'drifted');
    await waitAssigned(ns, 'web');
    // Removed behind MIC's back (MIC's drift check runs every 3 minutes by default).
    const vmss = w().sim.store.getCompute(w().scaleSet.id);
    const ids = vmss?.identity.userAssignedIdentities ?? [];
    ids.splice(ids.findIndex((id) => id.toLowerCase() === azure.id.toLowerCase()), 1);
    const { code, report: result } = await report('web', ns);
    expect([code, result.firstFailure]).toEqual([1, 'compute-identity']);
    expect(result.steps.find((step) => step.id === 'compute-identity')?.detail).toContain(`${azure.id} is NOT on VMSS`);
  });

  it('exception in place', async () => {
    const ns = await w().namespace('excepted');
    await bound(ns, 'excepted-id', 'excepted');
    await w().apply({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzurePodIdentityException', metadata: { name: 'let-through', namespace: ns }, spec: { podLabels: { aadpodidbinding: 'excepted' } } });
    await w().createPod(ns, 'web', w().scaleSetNodes[0]!, 'excepted');
    const { code, report: result } = await report('web', ns);
    expect([code, result.firstFailure]).toEqual([1, 'exception']);
    expect(result.steps.find((step) => step.id === 'exception')?.detail).toContain('let-through');
  });

  it('NMI down: not ready, then none', async () => {
    const ns = await w().namespace('nmidown');
    await bound(ns, 'nmidown-id', 'nmidown');
    await w().createPod(ns, 'web', nmiDownNode, 'nmidown');
    await waitAssigned(ns, 'web');
    const notReady = await report('web', ns);
    expect([notReady.code, notReady.report.firstFailure]).toEqual([1, 'nmi']);
    expect(notReady.report.steps.find((step) => step.id === 'nmi')?.detail).toContain(`NMI down on node ${nmiDownNode}`);
    console.log(`[doctor] NMI down:\n${await notReady.text()}`);
    await rawRequest(w().kc, { method: 'DELETE', path: `/api/v1/namespaces/kube-system/pods/nmi-${nmiDownNode}`, query: { gracePeriodSeconds: 0 } });
    await vi.waitFor(async () => {
      const none = await report('web', ns);
      expect([none.code, none.report.firstFailure]).toEqual([1, 'nmi']);
      expect(none.report.steps.find((step) => step.id === 'nmi')?.detail).toContain('no NMI pod');
    }, { timeout: 10_000, interval: 200 });
  });

  it('namespaced mode read from the MIC Deployment (FORCENAMESPACED=true)', async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'pod-identity-mic', namespace: 'kube-system', labels: { 'app.kubernetes.io/component': 'mic' } },
      spec: {
        replicas: 0,
        selector: { matchLabels: { 'app.kubernetes.io/component': 'mic' } },
        template: {
          metadata: { labels: { 'app.kubernetes.io/component': 'mic' } },
          spec: { containers: [{ name: 'mic', image: 'example.invalid/mic:1', env: [{ name: 'FORCENAMESPACED', value: 'true' }] }] },
        },
      },
    };
    await rawRequest(w().kc, { method: 'POST', path: '/apis/apps/v1/namespaces/kube-system/deployments', body: deployment });
    try {
      const { code, report: result } = await report('web', 'client');
      expect([code, result.firstFailure]).toEqual([1, 'namespaced']);
      expect(result.mode).toMatchObject({ forceNamespaced: true, source: 'deployment' });
      expect(result.mode.detail).toContain('kube-system/pod-identity-mic: FORCENAMESPACED=true');
      // The real MIC is not namespaced (its AAIs are in default): doctor, told otherwise, says so.
      const mismatch = await report('web', 'healthy');
      expect([mismatch.code, mismatch.report.firstFailure]).toEqual([1, 'assigned']);
      expect(mismatch.report.steps.find((step) => step.id === 'assigned')?.detail).toContain('but default/web-healthy-healthy-id does: MIC runs with namespaced mode off');
    } finally {
      await rawRequest(w().kc, { method: 'DELETE', path: '/apis/apps/v1/namespaces/kube-system/deployments/pod-identity-mic' });
    }
  });

  it('without Azure credentials the cloud steps are unknown; --skip-azure skips them', async () => {
    const skipped = await report('web', 'healthy', ['--skip-azure']);
    expect(skipped.code).toBe(0);
    expect([status(skipped.report, 'compute-identity'), status(skipped.report, 'role')]).toEqual(['skip', 'skip']);
    // No azure.json; DefaultAzureCredential finds nothing in this empty environment.
    const run = await doctor(['web', '-n', 'healthy', `--kubeconfig=${w().plane.kubeconfigPath}`, '--cluster-principal-id=11111111-1111-1111-1111-111111111111', '-o', 'json']);
    const result = JSON.parse(run.stdout) as DoctorReport;
    expect([status(result, 'compute-identity'), status(result, 'role')]).toEqual(['unknown', 'unknown']);
    expect(run.code).toBe(0);
  }, 90_000);

  it('bad input: unknown pod, unknown context, bad azure.json, bad flags exit 2 with a clear message', async () => {
    const kubeconfig = `--kubeconfig=${w().plane.kubeconfigPath}`;
    const unknown = await doctor(['nope', '-n', 'healthy', kubeconfig, '--skip-azure']);
    expect([unknown.code, unknown.stderr]).toEqual([2, 'pod-identity doctor: pod healthy/nope not found (use -n to choose the namespace)\n']);
    const context = await doctor(['web', kubeconfig, '--context=elsewhere']);
    expect(context.code).toBe(2);
    expect(context.stderr).toContain('no context "elsewhere"');
    const bad = path.join(w().dir, 'bad-azure.json');
    writeFileSync(bad, JSON.stringify({ subscriptionId: 'a/b', useManagedIdentityExtension: true }));
    const config = await doctor(['web', '-n', 'healthy', kubeconfig, `--cloudconfig=${bad}`]);
    expect(config.code).toBe(2);
    expect(config.stderr).toContain('subscriptionId');
    expect((await doctor([])).code).toBe(2);
    expect((await doctor(['web', '-o', 'yaml'])).stderr).toContain('one of text, json');
    const help = await doctor(['--help']);
    expect([help.code, help.stdout]).toEqual([0, expect.stringContaining('Usage: pod-identity doctor <pod>')]);
  });

  it('runs as a child process (the installed binary) with the same exit code', async () => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/cli/main.ts'), 'doctor', 'web', '-n', 'nolabel', `--kubeconfig=${w().plane.kubeconfigPath}`, '--skip-azure'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stdout).toMatch(/\[FAIL\] +Pod has the aadpodidbinding label {2}<== first failure/);
  });
});
