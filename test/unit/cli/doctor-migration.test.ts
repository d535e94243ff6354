import { describe, expect, it } from 'vitest';
import { parseLeaderRecord, workloadOwner } from '../../../src/cli/doctor/migration-gather.ts';
import { diagnoseMigration, flagValue, renderMigrationText, type MigrationSnapshot, type MigrationWorkload } from '../../../src/cli/doctor/migration.ts';

const CRDS = ['azureidentities', 'azureidentitybindings', 'azureassignedidentities', 'azurepodidentityexceptions'].map((plural) => `${plural}.aadpodidentity.k8s.io`);
const crds = (owner: 'absent' | 'foreign' | 'ours'): MigrationSnapshot['crds'] => new Map(CRDS.map((name) => [name, owner]));
const workload = (kind: MigrationWorkload['kind'], name: string, args: string[] = [], ready = 2): MigrationWorkload => ({ kind, namespace: 'ns', name, args, desired: 2, ready });
const upstreamMic = workload('Deployment', 'mic');
const upstreamNmi = workload('DaemonSet', 'nmi');
const ourMicSharing = workload('Deployment', 'pod-identity-mic', ['--leader-election-resource-lock=endpointsleases', '--leader-election-namespace=default', '--leader-election-name=aad-pod-identity-mic']);
const ourNmiOwnChain = workload('DaemonSet', 'pod-identity-nmi', ['--ipt-chain=pod-identity-metadata']);
const upstreamLock = { namespace: 'default', name: 'aad-pod-identity-mic', holder: 'mic-7d9c-abcde', fresh: true, heldWithLease: false };

const snapshot = (overrides: Partial<MigrationSnapshot>): MigrationSnapshot => ({
  crds: crds('foreign'),
  upstreamMic: [],
  upstreamNmi: [],
  ourMic: [],
  ourNmi: [],
  endpointsLocks: [],
  assignedIdentities: 3,
  ...overrides,
});

describe('doctor --migration: the stages of the switch and the next step', () => {
  it('upstream only, its CRDs: step 1 replaces the CRDs', () => {
    const report = diagnoseMigration(snapshot({ upstreamMic: [upstreamMic], upstreamNmi: [upstreamNmi], endpointsLocks: [upstreamLock] }));
    expect(report).toMatchObject({ stage: 'upstream-only', healthy: true });
    expect(report.next).toMatch(/^step 1: .*kubectl apply --server-side --force-conflicts -f deploy\/crds.yaml/);
  });

  it('our CRDs, upstream still alone: step 2 installs ours beside it, in migration mode', () => {
    const report = diagnoseMigration(snapshot({ crds: crds('ours'), upstreamMic: [upstreamMic], upstreamNmi: [upstreamNmi], endpointsLocks: [upstreamLock] }));
    expect(report.stage).toBe('crds-replaced');
    expect(report.next).toMatch(/^step 2: helm install .*migration.fromAadPodIdentity.enabled=true/);
  });

  it('side by side and set up right: step 3 removes upstream', () => {
    const report = diagnoseMigration(snapshot({ crds: crds('ours'), upstreamMic: [upstreamMic], upstreamNmi: [upstreamNmi], ourMic: [ourMicSharing], ourNmi: [ourNmiOwnChain], endpointsLocks: [upstreamLock] }));
    expect(report).toMatchObject({ stage: 'side-by-side', healthy: true });
    expect(report.next).toMatch(/^step 3: remove aad-pod-identity/);
    expect(report.checks.map((check) => `${check.name}:${check.status}`)).toEqual(['crds:ok', 'mic-lock:ok', 'nmi-chain:ok', 'nmi-ready:ok', 'mic-ready:ok']);
  });

  it('side by side with a Lease-only MIC and an NMI on aad-metadata: both fail, with why', () => {
    const report = diagnoseMigration(snapshot({ crds: crds('ours'), upstreamMic: [upstreamMic], ourMic: [workload('Deployment', 'pod-identity-mic')], ourNmi: [workload('DaemonSet', 'pod-identity-nmi')], endpointsLocks: [upstreamLock] }));
    expect(report.healthy).toBe(false);
    expect(report.checks.find((check) => check.name === 'mic-lock')).toMatchObject({ status: 'fail', message: expect.stringMatching(/--leader-election-resource-lock=leases: it would lead beside upstream’s MIC/) as unknown });
    expect(report.checks.find((check) => check.name === 'nmi-chain')).toMatchObject({ status: 'fail', message: expect.stringMatching(/upstream’s NMI deletes when it stops/) as unknown });
    expect(report.next).toMatch(/fix the failed checks first/);
  });

  it('side by side with a MIC sharing the wrong lock: fails naming both', () => {
    const wrong = workload('Deployment', 'pod-identity-mic', ['--leader-election-resource-lock=endpointsleases', '--leader-election-namespace=pod-identity']);
    const report = diagnoseMigration(snapshot({ crds: crds('ours'), upstreamMic: [upstreamMic], ourMic: [wrong], ourNmi: [ourNmiOwnChain], endpointsLocks: [upstreamLock] }));
    expect(report.checks.find((check) => check.name === 'mic-lock')?.message).toMatch(/locks pod-identity\/aad-pod-identity-mic, but upstream’s MIC holds default\/aad-pod-identity-mic/);
  });

  it('side by side while our NMI is not Ready everywhere: wait before step 3', () => {
    const report = diagnoseMigration(snapshot({ crds: crds('ours'), upstreamNmi: [upstreamNmi], ourMic: [ourMicSharing], ourNmi: [{ ...ourNmiOwnChain, ready: 1 }] }));
    expect(report.next).toMatch(/^wait until pod-identity’s NMI is Ready on every node/);
  });

  it('a fresh Endpoints lock that our MIC holds with its Lease is not upstream', () => {
    const ours = { ...upstreamLock, holder: 'pod-identity-mic-5f-xyz', heldWithLease: true };
    const report = diagnoseMigration(snapshot({ crds: crds('ours'), ourMic: [ourMicSharing], ourNmi: [ourNmiOwnChain], endpointsLocks: [ours] }));
    expect(report.stage).toBe('switched-coexistence-settings');
    expect(report.next).toMatch(/^step 4: helm upgrade .*migration.fromAadPodIdentity.enabled=false --set mic.leaderElection.namespace=default /);
  });

  it('done, with a stale upstream lock to delete; then done', () => {
    const stale = { ...upstreamLock, fresh: false };
    const ours = { crds: crds('ours'), ourMic: [workload('Deployment', 'pod-identity-mic')], ourNmi: [workload('DaemonSet', 'pod-identity-nmi')] };
    const withStale = diagnoseMigration(snapshot({ ...ours, endpointsLocks: [stale] }));
    expect(withStale).toMatchObject({ stage: 'done', healthy: true });
    expect(withStale.next).toMatch(/kubectl delete endpoints -n default aad-pod-identity-mic/);
    expect(diagnoseMigration(snapshot(ours)).next).toBe('migration complete: pod-identity alone serves 3 AzureAssignedIdentities');
  });

  it('nothing installed', () => {
    expect(diagnoseMigration(snapshot({ crds: crds('absent') })).stage).toBe('not-installed');
  });

  it('renders one line per check and the next step', () => {
    const text = renderMigrationText(diagnoseMigration(snapshot({ upstreamMic: [upstreamMic] })));
    expect(text.split('\n')[0]).toBe('Migration from aad-pod-identity: upstream-only');
    expect(text).toMatch(/^ {2}warn {2}crds {2}not pod-identity’s yet: azureidentities.aadpodidentity.k8s.io \(foreign\)/m);
    expect(text).toMatch(/^Next: step 1/m);
  });
});

describe('doctor --migration: reading objects', () => {
  it('flagValue reads --a=b, --a b, -a=b and bare booleans', () => {
    expect(flagValue(['--x=1', '--ipt-chain=c'], 'ipt-chain')).toBe('c');
    expect(flagValue(['--ipt-chain', 'c'], 'ipt-chain')).toBe('c');
    expect(flagValue(['-ipt-chain=c'], 'ipt-chain')).toBe('c');
    expect(flagValue(['--forceNamespaced', '--x'], 'forceNamespaced')).toBe('');
    expect(flagValue([], 'ipt-chain')).toBeUndefined();
  });

  it('tells upstream workloads by image and ours by label or image', () => {
    const withImage = (image: string, labels: Record<string, string> = {}): Parameters<typeof workloadOwner>[0] => ({ metadata: { labels }, spec: { template: { spec: { containers: [{ image }] } } } });
    expect(workloadOwner(withImage('mcr.microsoft.com/oss/azure/aad-pod-identity/mic:v1.8.17'))).toBe('upstream');
    expect(workloadOwner(withImage('registry.corp/mirror/aad-pod-identity/nmi@sha256:abc'))).toBe('upstream');
    expect(workloadOwner(withImage('localhost/pod-identity-nmi:0.1.0'))).toBe('ours');
    expect(workloadOwner(withImage('registry.corp/custom:1', { 'app.kubernetes.io/name': 'pod-identity' }))).toBe('ours');
    expect(workloadOwner(withImage('nginx:1'))).toBeUndefined();
  });

  it('a leader record is fresh while renewTime + leaseDurationSeconds is ahead', () => {
    const now = Date.parse('2026-12-05T12:00:00Z');
    const record = (renew: string): string => JSON.stringify({ holderIdentity: 'mic-1', leaseDurationSeconds: 15, acquireTime: renew, renewTime: renew, leaderTransitions: 0 });
    expect(parseLeaderRecord(record('2026-12-05T11:59:50Z'), now)).toEqual({ holder: 'mic-1', fresh: true });
    expect(parseLeaderRecord(record('2026-12-05T11:59:40Z'), now)).toEqual({ holder: 'mic-1', fresh: false });
    expect(parseLeaderRecord('not json', now)).toBeUndefined();
    expect(parseLeaderRecord(undefined, now)).toBeUndefined();
  });
});
