/**
 * `pod-identity doctor --migration`: where a cluster stands in the switch from aad-pod-identity
 * (docs/migration.md) and which step is next, as a pure function over what the API server shows.
 * It also names the two settings whose absence breaks the switch: our MIC must share upstream's
 * Endpoints lock (else two MICs are active at once), and our NMI must redirect through a chain of its
 * own (upstream's NMI deletes `aad-metadata` when it stops).
 * @module
 */

/** One upstream or pod-identity workload (Deployment or DaemonSet), as far as the switch cares. */
export interface MigrationWorkload {
  readonly kind: 'Deployment' | 'DaemonSet';
  readonly namespace: string;
  readonly name: string;
  /** The first container's arguments (command and args). */
  readonly args: readonly string[];
  /** Pods wanted (replicas / desiredNumberScheduled) and ready. */
  readonly desired: number;
  readonly ready: number;
}

/** Upstream MIC's leader lock: the Endpoints `aad-pod-identity-mic` and its leader annotation. */
export interface EndpointsLock {
  readonly namespace: string;
  readonly name: string;
  readonly holder: string;
  /** Whether the holder renewed within its lease duration (at the time of reading). */
  readonly fresh: boolean;
  /**
   * A Lease of the same namespace and name names the same holder: our MIC holds both
   * (`endpointsleases`), so the Endpoints lock says nothing about upstream.
   */
  readonly heldWithLease: boolean;
}

export interface MigrationSnapshot {
  /** Each of our four CRDs: absent, upstream's (or anyone else's), or ours (label part-of=pod-identity). */
  readonly crds: ReadonlyMap<string, 'absent' | 'foreign' | 'ours'>;
  readonly upstreamMic: readonly MigrationWorkload[];
  readonly upstreamNmi: readonly MigrationWorkload[];
  readonly ourMic: readonly MigrationWorkload[];
  readonly ourNmi: readonly MigrationWorkload[];
  readonly endpointsLocks: readonly EndpointsLock[];
  readonly assignedIdentities: number;
}

export type MigrationStage = 'not-installed' | 'upstream-only' | 'crds-replaced' | 'side-by-side' | 'switched-coexistence-settings' | 'done';

export interface MigrationCheck {
  readonly name: string;
  readonly status: 'ok' | 'fail' | 'warn';
  readonly message: string;
}

export interface MigrationReport {
  readonly stage: MigrationStage;
  readonly checks: readonly MigrationCheck[];
  /** The step to take now (docs/migration.md), or why none is needed. */
  readonly next: string;
  /** No check failed. */
  readonly healthy: boolean;
}

/** The chain our NMI uses beside upstream's (the same constant lives in src/nmi/iptables/rules.ts). */
const DEFAULT_CHAIN = 'aad-metadata';

/** The value of `--name=value` / `--name value` / `-name=value` among args; `''` for a bare boolean flag. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  for (const [index, arg] of args.entries()) {
    const match = /^--?([^=]+)(?:=(.*))?$/.exec(arg);
    if (match?.[1] !== name) continue;
    if (match[2] !== undefined) return match[2];
    const next = args[index + 1];
    return next !== undefined && !next.startsWith('-') ? next : '';
  }
  return undefined;
}

const where = (workload: MigrationWorkload): string => `${workload.kind} ${workload.namespace}/${workload.name}`;

function crdCheck(crds: MigrationSnapshot['crds']): MigrationCheck {
  const foreign = [...crds].filter(([, owner]) => owner !== 'ours').map(([name, owner]) => `${name} (${owner})`);
  if (foreign.length === 0) return { name: 'crds', status: 'ok', message: 'the four CRDs are pod-identity’s' };
  return { name: 'crds', status: 'warn', message: `not pod-identity’s yet: ${foreign.join(', ')}` };
}

/** Our MIC beside a running upstream MIC must hold upstream's Endpoints lock too. */
function micLockCheck(snapshot: MigrationSnapshot): MigrationCheck {
  const problems: string[] = [];
  for (const mic of snapshot.ourMic) {
    const lock = flagValue(mic.args, 'leader-election-resource-lock') ?? 'leases';
    const name = flagValue(mic.args, 'leader-election-name') ?? 'aad-pod-identity-mic';
    const namespace = flagValue(mic.args, 'leader-election-namespace') ?? 'default';
    if (lock !== 'endpointsleases') {
      problems.push(`${where(mic)} uses --leader-election-resource-lock=${lock}: it would lead beside upstream’s MIC`);
      continue;
    }
    const upstream = snapshot.endpointsLocks.filter((entry) => entry.fresh && !entry.heldWithLease);
    if (upstream.length > 0 && !upstream.some((entry) => entry.name === name && entry.namespace === namespace)) {
      problems.push(`${where(mic)} locks ${namespace}/${name}, but upstream’s MIC holds ${upstream.map((entry) => `${entry.namespace}/${entry.name}`).join(', ')}`);
    }
  }
  if (problems.length > 0) return { name: 'mic-lock', status: 'fail', message: problems.join('; ') };
  return { name: 'mic-lock', status: 'ok', message: 'our MIC shares upstream’s Endpoints lock: only one MIC is active' };
}

/** Our NMI beside a running upstream NMI must not use `aad-metadata`, which upstream deletes on stop. */
function nmiChainCheck(snapshot: MigrationSnapshot): MigrationCheck {
  const problems = snapshot.ourNmi
    .filter((nmi) => (flagValue(nmi.args, 'ipt-chain') ?? DEFAULT_CHAIN) === DEFAULT_CHAIN)
    .map((nmi) => `${where(nmi)} redirects through aad-metadata, which upstream’s NMI deletes when it stops (pods would be refused until ours restores it)`);
  if (problems.length > 0) return { name: 'nmi-chain', status: 'fail', message: problems.join('; ') };
  return { name: 'nmi-chain', status: 'ok', message: 'our NMI redirects through its own chain, first in PREROUTING' };
}

function readyCheck(name: string, workloads: readonly MigrationWorkload[]): MigrationCheck {
  const short = workloads.filter((workload) => workload.ready < workload.desired || workload.desired === 0);
  if (short.length === 0) return { name, status: 'ok', message: workloads.map((workload) => `${where(workload)} ${workload.ready}/${workload.desired} ready`).join('; ') };
  return { name, status: 'warn', message: short.map((workload) => `${where(workload)} ${workload.ready}/${workload.desired} ready`).join('; ') };
}

/** Where the switch stands, what is wrong, and the next step. */
export function diagnoseMigration(snapshot: MigrationSnapshot): MigrationReport {
  const upstreamRuns = snapshot.upstreamMic.length > 0 || snapshot.upstreamNmi.length > 0 || snapshot.endpointsLocks.some((lock) => lock.fresh && !lock.heldWithLease);
  const oursInstalled = snapshot.ourMic.length > 0 || snapshot.ourNmi.length > 0;
  const crds = crdCheck(snapshot.crds);
  const checks: MigrationCheck[] = [crds];
  const report = (stage: MigrationStage, next: string): MigrationReport => ({ stage, checks, next, healthy: checks.every((check) => check.status !== 'fail') });

  if (!upstreamRuns && !oursInstalled) return report('not-installed', 'neither aad-pod-identity nor pod-identity runs here: nothing to migrate (install pod-identity with helm)');
  if (upstreamRuns && !oursInstalled) {
    if (crds.status !== 'ok') return report('upstream-only', 'step 1: replace the CRDs (kubectl apply --server-side --force-conflicts -f deploy/crds.yaml); your objects stay');
    return report('crds-replaced', 'step 2: helm install pod-identity with --set migration.fromAadPodIdentity.enabled=true, beside aad-pod-identity');
  }
  if (upstreamRuns) {
    const lock = micLockCheck(snapshot);
    const chain = nmiChainCheck(snapshot);
    const nmiReady = readyCheck('nmi-ready', snapshot.ourNmi);
    checks.push(lock, chain, nmiReady, readyCheck('mic-ready', snapshot.ourMic));
    if (crds.status !== 'ok') return report('side-by-side', 'step 1 first: replace the CRDs (kubectl apply --server-side --force-conflicts -f deploy/crds.yaml)');
    if (lock.status === 'fail' || chain.status === 'fail') {
      return report('side-by-side', 'fix the failed checks first: helm upgrade pod-identity --reuse-values --set migration.fromAadPodIdentity.enabled=true');
    }
    if (nmiReady.status !== 'ok' || snapshot.ourNmi.length === 0) return report('side-by-side', 'wait until pod-identity’s NMI is Ready on every node, then take step 3');
    return report('side-by-side', 'step 3: remove aad-pod-identity (helm uninstall, or kubectl delete of its MIC Deployment and NMI DaemonSet); keep the CRDs');
  }
  // Upstream is gone.
  const coexistence = snapshot.ourMic.some((mic) => flagValue(mic.args, 'leader-election-resource-lock') === 'endpointsleases') || snapshot.ourNmi.some((nmi) => (flagValue(nmi.args, 'ipt-chain') ?? DEFAULT_CHAIN) !== DEFAULT_CHAIN);
  const staleLocks = snapshot.endpointsLocks.filter((lock) => !lock.fresh);
  if (coexistence) {
    // The Lease must stay where it is during that roll, or an old and a new MIC would each hold their own.
    const lockNamespace = snapshot.ourMic.map((mic) => flagValue(mic.args, 'leader-election-namespace')).find((namespace) => namespace !== undefined && namespace !== '') ?? 'default';
    return report(
      'switched-coexistence-settings',
      `step 4: helm upgrade pod-identity --reuse-values --set migration.fromAadPodIdentity.enabled=false --set mic.leaderElection.namespace=${lockNamespace} (back to the Lease alone and aad-metadata, the Lease kept in place; NMI removes its migration chain)`,
    );
  }
  if (staleLocks.length > 0) {
    checks.push({ name: 'stale-lock', status: 'warn', message: `upstream’s Endpoints lock is left over: ${staleLocks.map((lock) => `${lock.namespace}/${lock.name}`).join(', ')}` });
    return report('done', `migration complete; delete the left-over lock: ${staleLocks.map((lock) => `kubectl delete endpoints -n ${lock.namespace} ${lock.name}`).join('; ')}`);
  }
  return report('done', `migration complete: pod-identity alone serves ${String(snapshot.assignedIdentities)} AzureAssignedIdentities`);
}

/** The text report: stage, one line per check, the next step. */
export function renderMigrationText(report: MigrationReport): string {
  const width = Math.max(...report.checks.map((check) => check.name.length));
  const lines = [`Migration from aad-pod-identity: ${report.stage}`, ...report.checks.map((check) => `  ${check.status.padEnd(4)}  ${check.name.padEnd(width)}  ${check.message}`), `Next: ${report.next}`];
  return `${lines.join('\n')}\n`;
}
