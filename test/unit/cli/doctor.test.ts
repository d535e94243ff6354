import { describe, expect, it } from 'vitest';
import { readAzureAssignedIdentity, readAzureIdentity, readAzureIdentityBinding, readAzurePodIdentityException, type AzureIdentity } from '../../../src/api/index.ts';
import { parseProviderId } from '../../../src/azure/provider-id.ts';
import { parseDoctorArgs } from '../../../src/cli/doctor/command.ts';
import { diagnose, scopeCovers } from '../../../src/cli/doctor/diagnose.ts';
import { modeFromDeployments, projectDoctorPod, projectEvent, projectNmiPod } from '../../../src/cli/doctor/gather.ts';
import type { AzureFindings, DoctorSnapshot, EventInfo, StepId } from '../../../src/cli/doctor/model.ts';
import { renderJson, renderText } from '../../../src/cli/doctor/render.ts';
import { UsageError } from '../../../src/cli/command.ts';

const SUB = '00000000-0000-0000-0000-0000000000aa';
const ID = `/subscriptions/${SUB}/resourceGroups/identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app`;
const VMSS_PROVIDER = `azure:///subscriptions/${SUB}/resourceGroups/nodes/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/0`;
const PRINCIPAL = '11111111-1111-1111-1111-111111111111';
const MIO = '/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/f1a07417-d97a-45cb-824c-7a7467783830';

const rawPod = (labels: Record<string, string> = { aadpodidbinding: 'app' }, node = 'node-0', namespace = 'apps') => ({
  metadata: { name: 'web', namespace, uid: 'u1', labels, ownerReferences: [{ kind: 'ReplicaSet', name: 'web-123' }] },
  spec: { nodeName: node },
  status: { phase: 'Running' },
});

const identity = (namespace: string, name: string, annotations?: Record<string, string>): AzureIdentity =>
  readAzureIdentity({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name, namespace, ...(annotations ? { annotations } : {}) }, spec: { type: 0, resourceID: ID, clientID: 'c' } });
const binding = (namespace: string, name: string, azureIdentity: string, selector: string) =>
  readAzureIdentityBinding({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', metadata: { name, namespace }, spec: { azureIdentity, selector } });
const aai = (state: string, namespace = 'default', identityNamespace = 'apps') =>
  readAzureAssignedIdentity({
    apiVersion: 'aadpodidentity.k8s.io/v1',
    kind: 'AzureAssignedIdentity',
    metadata: { name: 'web-apps-app', namespace },
    spec: { pod: 'web', podNamespace: 'apps', nodename: 'node-0', azureIdentityRef: { ...identity(identityNamespace, 'app') } },
    status: { status: state, availableReplicas: 1 },
  });

const azureOk = (identities: string[] = [ID], roles = [{ roleDefinitionId: MIO, scope: `/subscriptions/${SUB}/resourceGroups/identities` }]): AzureFindings => {
  const compute = parseProviderId(VMSS_PROVIDER)!;
  return {
    kind: 'read',
    compute: { kind: 'ok', target: compute, identities },
    principal: { kind: 'known', principalId: PRINCIPAL, source: 'test' },
    roles: new Map([[ID.toLowerCase(), { kind: 'ok', assignments: roles }]]),
  };
};

function healthy(): DoctorSnapshot {
  return {
    pod: projectDoctorPod(rawPod())!,
    mode: { forceNamespaced: false, source: 'default', detail: 'test' },
    micNamespace: 'kube-system',
    bindings: [binding('apps', 'app-binding', 'app', 'app')],
    identities: new Map([['apps/app', identity('apps', 'app')]]),
    exceptions: [],
    assigned: [aai('Assigned')],
    node: { name: 'node-0', compute: parseProviderId(VMSS_PROVIDER), providerId: VMSS_PROVIDER },
    nmiPods: [{ namespace: 'kube-system', name: 'nmi-abc', phase: 'Running', ready: 'True', readyMessage: undefined }],
    events: [],
    azure: azureOk(),
  };
}

const statusOf = (snapshot: DoctorSnapshot, id: StepId) => diagnose(snapshot).steps.find((step) => step.id === id)?.status;

describe('diagnose', () => {
  it('a healthy set-up: every step ok, healthy, no first failure', () => {
    const report = diagnose(healthy());
    expect(report.steps.map((step) => [step.id, step.status])).toEqual([
      ['pod', 'ok'], ['label', 'ok'], ['bindings', 'ok'], ['identity', 'ok'], ['namespaced', 'ok'], ['exception', 'ok'],
      ['assigned', 'ok'], ['node', 'ok'], ['compute-identity', 'ok'], ['role', 'ok'], ['nmi', 'ok'], ['events', 'ok'],
    ]);
    expect(report.healthy).toBe(true);
    expect(report.firstFailure).toBeUndefined();
  });

  it('no label', () => {
    const snapshot = { ...healthy(), pod: projectDoctorPod(rawPod({}))! };
    const report = diagnose(snapshot);
    expect(report.firstFailure).toBe('label');
    expect(report.steps.find((step) => step.id === 'label')?.fix).toContain('app');
    expect(statusOf(snapshot, 'bindings')).toBe('skip');
  });

  it('selector mismatch, with a near miss named', () => {
    const snapshot = { ...healthy(), bindings: [binding('apps', 'app-binding', 'app', 'App')] };
    const report = diagnose(snapshot);
    expect(report.firstFailure).toBe('bindings');
    expect(report.steps.find((step) => step.id === 'bindings')?.detail).toContain('differs only in case');
  });

  it('identity missing in the binding namespace, found elsewhere', () => {
    const snapshot = { ...healthy(), identities: new Map([['other/app', identity('other', 'app')]]) };
    const report = diagnose(snapshot);
    expect(report.firstFailure).toBe('identity');
    expect(report.steps.find((step) => step.id === 'identity')?.detail).toContain('found other/app');
  });

  it('wrong namespace under namespaced mode', () => {
    const snapshot: DoctorSnapshot = {
      ...healthy(),
      mode: { forceNamespaced: true, source: 'deployment', detail: 'MIC Deployment kube-system/mic: FORCENAMESPACED=true' },
      bindings: [binding('shared', 'app-binding', 'app', 'app')],
      identities: new Map([['shared/app', identity('shared', 'app')]]),
    };
    const report = diagnose(snapshot);
    expect(report.firstFailure).toBe('namespaced');
    expect(report.steps.find((step) => step.id === 'namespaced')?.detail).toContain('FORCENAMESPACED=true');
  });

  it('the namespaced annotation alone also counts', () => {
    const snapshot: DoctorSnapshot = {
      ...healthy(),
      bindings: [binding('shared', 'app-binding', 'app', 'app')],
      identities: new Map([['shared/app', identity('shared', 'app', { 'aadpodidentity.k8s.io/Behavior': 'namespaced' })]]),
    };
    expect(diagnose(snapshot).firstFailure).toBe('namespaced');
  });

  it('exception in place', () => {
    const exception = readAzurePodIdentityException({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzurePodIdentityException', metadata: { name: 'skip', namespace: 'apps' }, spec: { podLabels: { aadpodidbinding: 'APP' } } });
    const report = diagnose({ ...healthy(), exceptions: [exception] });
    expect(report.firstFailure).toBe('exception');
    expect(report.steps.find((step) => step.id === 'exception')?.fix).toContain('delete azurepodidentityexception skip');
  });

  it('MIC self-exception', () => {
    const pod = projectDoctorPod({ ...rawPod(undefined, 'node-0', 'kube-system'), metadata: { ...rawPod().metadata, namespace: 'kube-system', ownerReferences: [{ kind: 'ReplicaSet', name: 'mic-abc' }] } })!;
    expect(diagnose({ ...healthy(), pod }).steps.find((step) => step.id === 'exception')?.status).toBe('fail');
  });

  it('AAI stuck in Created shows the last Warning about it', () => {
    const warning: EventInfo = {
      namespace: 'apps', involvedKind: 'AzureIdentityBinding', involvedName: 'app-binding', type: 'Warning', reason: 'binding apply error',
      message: 'Binding app-binding could not be applied on node node-0 for pod web-apps-app: LinkedAuthorizationFailed', count: 3, lastTimestamp: '2030-01-01T00:00:00Z',
    };
    const report = diagnose({ ...healthy(), assigned: [aai('Created')], events: [warning], azure: azureOk([], []) });
    expect(report.firstFailure).toBe('assigned');
    const step = report.steps.find((entry) => entry.id === 'assigned')!;
    expect(step.detail).toContain('stuck in Created');
    expect(step.detail).toContain('LinkedAuthorizationFailed');
    expect(report.steps.find((entry) => entry.id === 'role')?.status).toBe('fail');
    expect(report.steps.find((entry) => entry.id === 'events')?.status).toBe('warn');
  });

  it('AAI missing: MIC has not acted', () => {
    expect(diagnose({ ...healthy(), assigned: [] }).firstFailure).toBe('assigned');
  });

  it('identity not on the VMSS', () => {
    const report = diagnose({ ...healthy(), azure: azureOk([]) });
    expect(report.firstFailure).toBe('compute-identity');
    expect(report.steps.find((step) => step.id === 'compute-identity')?.fix).toContain('az vmss identity assign -g nodes -n pool');
  });

  it('role: missing, unknown principal, a role below the scope does not count', () => {
    expect(statusOf({ ...healthy(), azure: azureOk([ID], []) }, 'role')).toBe('fail');
    const below = azureOk([ID], [{ roleDefinitionId: MIO, scope: `${ID}/child` }]);
    expect(statusOf({ ...healthy(), azure: below }, 'role')).toBe('fail');
    const unknown: AzureFindings = { ...azureOk(), principal: { kind: 'unknown', reason: 'no azure.json' } } as AzureFindings;
    expect(statusOf({ ...healthy(), azure: unknown }, 'role')).toBe('unknown');
    expect(diagnose({ ...healthy(), azure: unknown }).healthy).toBe(true);
  });

  it('no Azure credentials: cloud steps unknown, not failures; --skip-azure: skipped', () => {
    const report = diagnose({ ...healthy(), azure: { kind: 'unavailable', reason: 'no token' } });
    expect(report.steps.find((step) => step.id === 'compute-identity')?.status).toBe('unknown');
    expect(report.healthy).toBe(true);
    expect(statusOf({ ...healthy(), azure: { kind: 'skipped', reason: '--skip-azure given' } }, 'role')).toBe('skip');
  });

  it('NMI down: none on the node, or not ready', () => {
    const none = diagnose({ ...healthy(), nmiPods: [] });
    expect(none.firstFailure).toBe('nmi');
    expect(none.steps.find((step) => step.id === 'nmi')?.detail).toContain('NMI down on node node-0');
    const notReady = diagnose({ ...healthy(), nmiPods: [{ namespace: 'kube-system', name: 'nmi-x', phase: 'Running', ready: 'False', readyMessage: 'rules not installed' }] });
    expect(notReady.firstFailure).toBe('nmi');
  });

  it('unscheduled pod, non-Azure node', () => {
    const pod = projectDoctorPod(rawPod(undefined, ''))!;
    expect(diagnose({ ...healthy(), pod, node: undefined }).firstFailure).toBe('pod');
    expect(diagnose({ ...healthy(), node: { name: 'node-0', compute: undefined, providerId: 'kind://x' } }).firstFailure).toBe('node');
  });

  it('events newest first, limited', () => {
    const event = (at: string): EventInfo => ({ namespace: 'apps', involvedKind: 'Pod', involvedName: 'web', type: 'Normal', reason: 'r', message: at, count: 1, lastTimestamp: at });
    const report = diagnose({ ...healthy(), events: ['2030-01-01T00:00:01Z', '2030-01-01T00:00:03Z', '2030-01-01T00:00:02Z'].map(event) }, { maxEvents: 2 });
    expect(report.events.map((entry) => entry.message)).toEqual(['2030-01-01T00:00:03Z', '2030-01-01T00:00:02Z']);
  });
});

describe('render', () => {
  it('text marks the first failure; json is the report', () => {
    const report = diagnose({ ...healthy(), nmiPods: [] });
    const text = renderText(report);
    expect(text).toMatch(/\[FAIL\] +NMI is healthy on the node {2}<== first failure/);
    expect(text).toContain('Result: FAIL');
    expect(JSON.parse(renderJson(report))).toMatchObject({ healthy: false, firstFailure: 'nmi' });
    expect(renderText(diagnose(healthy()))).toContain('Result: OK');
  });
});

describe('projections', () => {
  it('namespaced mode from a MIC Deployment', () => {
    const deployment = (container: Record<string, unknown>) => ({ metadata: { name: 'mic', namespace: 'pi' }, spec: { template: { spec: { containers: [{ name: 'mic', ...container }] } } } });
    expect(modeFromDeployments([]).mode).toMatchObject({ forceNamespaced: false, source: 'default' });
    expect(modeFromDeployments([deployment({ env: [{ name: 'FORCENAMESPACED', value: 'true' }] })])).toMatchObject({ mode: { forceNamespaced: true, source: 'deployment' }, micNamespace: 'pi' });
    expect(modeFromDeployments([deployment({ env: [{ name: 'FORCENAMESPACED', value: 'TRUE' }] })]).mode.forceNamespaced).toBe(false);
    expect(modeFromDeployments([deployment({ args: ['--forceNamespaced'] })]).mode.forceNamespaced).toBe(true);
    expect(modeFromDeployments([deployment({ args: ['--forceNamespaced=false'] })]).mode.forceNamespaced).toBe(false);
  });

  it('NMI pods and events', () => {
    expect(projectNmiPod({ metadata: { name: 'n', namespace: 'k' }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } })).toMatchObject({ phase: 'Running', ready: 'True' });
    expect(projectEvent({ involvedObject: { kind: 'Pod', name: 'p', namespace: 'a' }, type: 'Warning', reason: 'r', message: 'm', count: 2, lastTimestamp: 't' })).toMatchObject({ involvedKind: 'Pod', count: 2, lastTimestamp: 't' });
  });

  it('scope coverage', () => {
    expect(scopeCovers(`/subscriptions/${SUB}/resourceGroups/identities`, ID.toLowerCase())).toBe(true);
    expect(scopeCovers(`/subscriptions/${SUB}/resourceGroups/ident`, ID)).toBe(false);
    expect(scopeCovers('/', ID)).toBe(true);
  });
});

describe('arguments', () => {
  it('parses pod, namespace and flags', () => {
    expect(parseDoctorArgs(['web', '-n', 'apps', '-o', 'json', '--namespaced'])).toMatchObject({ podName: 'web', namespace: 'apps', output: 'json', namespaced: true });
    expect(parseDoctorArgs(['pod/web'])).toMatchObject({ podName: 'web', namespace: undefined, output: 'text', namespaced: undefined });
    expect(parseDoctorArgs(['--help']).help).toBe(true);
  });

  it('rejects bad input with every problem', () => {
    expect(() => parseDoctorArgs([])).toThrow(UsageError);
    expect(() => parseDoctorArgs(['Web_1'])).toThrow(/not a pod name/);
    expect(() => parseDoctorArgs(['web', '-o', 'yaml'])).toThrow(/one of text, json/);
    expect(() => parseDoctorArgs(['web', '--cluster-principal-id', 'nope'])).toThrow(/GUID/);
    expect(() => parseDoctorArgs(['web', '--bogus'])).toThrow(/unknown flag --bogus/);
  });
});

describe('mode disagreement', () => {
  it('an AAI in the other mode\'s namespace is named, with the flag to rerun', () => {
    const snapshot: DoctorSnapshot = { ...healthy(), mode: { forceNamespaced: true, source: 'flag', detail: '--namespaced=true given' } };
    const step = diagnose(snapshot).steps.find((entry) => entry.id === 'assigned')!;
    expect(step.status).toBe('fail');
    expect(step.detail).toContain('but default/web-apps-app does');
    expect(step.detail).toContain('--namespaced=false');
  });
});
