/**
 * Fail-closed (issue 8; TARGETS.md: pod traffic reaching the node's IMDS while NMI runs, restarts or is
 * killed: 0 requests; a deleted rule restored ≤ 5 s). One node namespace with four pods (pod0 and pod3 bound to
 * identity A, pod1 to B, pod2 unbound; pod3 keeps its connection alive, as SDKs do) asking for tokens
 * in a steady bounded loop, while: pods run before NMI ever
 * started (the node registered with the not-ready taint), then NMI is SIGKILLed and restarted, SIGTERMed
 * and restarted, rolled to another "version" (its DaemonSet updated, old NMI terminated, a new one with
 * other flags and another DNAT port started), its jump deleted and its chain flushed by someone else.
 * Every pod connection that reached the node's IMDS (the relay's log) is a breach unless it came before
 * NMI's first install (the window, counted apart) or while the rules were deleted (counted apart).
 * @module
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { DEFAULT_NOT_READY_TAINT, type Taint } from '../../src/nmi/node/node-taint.ts';
import type { IptablesConfig } from '../../src/nmi/node/iptables/rules.ts';
import { readAuditEvents } from '../../src/devenv/audit.ts';
import { assertNetnsPrerequisites, createTopology, IMDS_IP, nodeCommand, type NetnsTopology, type PodNamespace } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { MicWorld } from '../support/mic-world.ts';
import { interceptionInstalled, startImdsRelay, startNodeNmi, waitUntil, type NodeNmiOptions } from '../support/nmi-e2e.ts';
import { CountsBuilder, type ReliabilityScenario, type ScenarioContext } from './counts.ts';
import { answeredByImds, firstTokenAfter, overlapsExposure, parseAttempts, parseRelay, tallyRelay, type Attempt, type Exposure } from './fail-closed-tally.ts';
import { secretBreaches } from './secret-scan.ts';

const LOOP = fileURLToPath(new URL('./fixtures/pod-token-loop.ts', import.meta.url));
const NS = 'fail-closed';
const DAEMON_SET = 'pod-identity-nmi';
const DS_NAMESPACE = 'kube-system';
const RESTORE_TARGET_MS = 5_000;

/** Two NMI "versions" a rolling upgrade switches between: other DNAT port, other flags, own user. */
interface NmiVersion {
  readonly name: 'v1' | 'v2';
  readonly port: number;
  readonly taint: boolean;
  readonly user: string;
}
const VERSIONS: readonly NmiVersion[] = [
  { name: 'v1', port: 2579, taint: true, user: 'fail-closed-nmi-v1' },
  { name: 'v2', port: 2581, taint: false, user: 'fail-closed-nmi-v2' },
];

type Fault = 'sigkill' | 'sigterm' | 'upgrade' | 'jump-deleted' | 'chain-flushed';
const FAULTS: readonly Fault[] = ['sigkill', 'sigterm', 'upgrade', 'jump-deleted', 'chain-flushed'];

interface Plan {
  readonly cycles: number;
  /** Pods ask before NMI ever started for this long. */
  readonly preNmiMs: number;
  /** NMI down between stop and restart (kubelet's restart delay, the gap of a rolling update). */
  readonly downMs: number;
  /** Steady traffic after each recovery. */
  readonly steadyMs: number;
  readonly intervalMs: number;
}
const PLANS: Record<'ci' | 'full', Plan> = {
  ci: { cycles: 1, preNmiMs: 2_000, downMs: 1_000, steadyMs: 1_000, intervalMs: 100 },
  full: { cycles: 6, preNmiMs: 5_000, downMs: 3_000, steadyMs: 3_000, intervalMs: 50 },
};

interface Identity {
  readonly id: string;
  readonly clientId: string;
}

/** Everything one run holds; `close` removes it all (namespaces, processes, control plane). */
class Run {
  world: MicWorld | undefined;
  topo: NetnsTopology | undefined;
  readonly loops: ManagedProcess[] = [];
  readonly nmis: ManagedProcess[] = [];

  t(): NetnsTopology {
    if (this.topo === undefined) throw new Error('topology not created');
    return this.topo;
  }

  w(): MicWorld {
    if (this.world === undefined) throw new Error('world not started');
    return this.world;
  }

  async close(): Promise<void> {
    const errors: unknown[] = [];
    await this.topo?.cleanup().catch((error: unknown) => errors.push(error));
    await this.world?.stop().catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw new AggregateError(errors, 'fail-closed cleanup failed');
  }
}

async function nodeTaints(world: MicWorld, node: string): Promise<Taint[]> {
  const object = (await rawRequest(world.kc, { method: 'GET', path: `/api/v1/nodes/${node}` })) as { spec?: { taints?: Taint[] } };
  return object.spec?.taints ?? [];
}

/** The pod's token loop, started in its namespace with a clean environment (no proxies). */
function startLoop(topo: NetnsTopology, pod: PodNamespace, plan: Plan, maxMs: number, clientId: string | undefined, keepAlive: boolean): Promise<ManagedProcess> {
  const [file, args] = nodeCommand(LOOP, [
    ...(keepAlive ? ['--keep-alive'] : []),
    `--interval-ms=${String(plan.intervalMs)}`,
    `--max-attempts=${String(Math.ceil(maxMs / plan.intervalMs) + 10)}`,
    `--max-ms=${String(maxMs)}`,
    ...(clientId === undefined ? [] : [`--client-id=${clientId}`]),
  ]);
  return topo.start(pod.name, `loop-${pod.name.slice(-4)}`, 'env', ['-i', `PATH=${process.env['PATH'] ?? '/usr/bin:/bin'}`, file, ...args]);
}

async function runFailClosed(context: ScenarioContext): Promise<ReturnType<CountsBuilder['finish']>> {
  const plan = PLANS[context.scale];
  const counts = new CountsBuilder('fail-closed', context.scale);
  const run = new Run();
  try {
    await assertNetnsPrerequisites();
    const world = (run.world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } }));
    const node = world.scaleSetNodes[0] ?? '';
    const caFile = path.join(world.dir, 'sim-ca.pem');
    writeFileSync(caFile, world.sim.caPem);
    // The node registered with the not-ready taint (kubelet --register-with-taints).
    await rawRequest(world.kc, { method: 'PATCH', path: `/api/v1/nodes/${node}`, contentType: 'application/merge-patch+json', body: { spec: { taints: [{ key: DEFAULT_NOT_READY_TAINT, value: 'true', effect: 'NoSchedule' }] } } });
    const mic = await world.startMic('mic-fail-closed');

    const topo = (run.topo = await createTopology({ pods: 4 }));
    const pods = topo.pods;
    const podIps = pods.map((pod) => pod.ip);
    const apiPort = Number(new URL(world.kc.getCurrentCluster()?.server ?? '').port);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: apiPort, target: { host: '127.0.0.1', port: apiPort } });
    const imds = new URL((await world.sim.startImds(node)).url);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: Number(imds.port), target: { host: imds.hostname, port: Number(imds.port) } });
    const relay = await startImdsRelay(topo, `127.0.0.1:${imds.port}`);

    // pod0 and pod3 → identity A, pod1 → identity B, pod2 → none.
    await world.namespace(NS);
    const identities: Identity[] = [];
    for (const name of ['a', 'b']) {
      const identity = await world.azureIdentity(`fail-closed-${name}`);
      identities.push(identity);
      await world.createIdentity(NS, `identity-${name}`, { type: 0, resourceID: identity.id, clientID: identity.clientId });
      await world.createBinding(NS, `binding-${name}`, `identity-${name}`, `select-${name}`);
    }
    const selectors = ['select-a', 'select-b', undefined, 'select-a'];
    const expected = new Map<string, string | undefined>(pods.map((pod, index) => [pod.name, selectors[index] === undefined ? undefined : identities[selectors[index] === 'select-a' ? 0 : 1]!.clientId]));
    for (const [index, pod] of pods.entries()) await world.createPod(NS, `app-${String(index)}`, node, selectors[index], { ip: pod.ip });
    await waitUntil('MIC to assign both identities', async () => {
      const statuses = await Promise.all(['app-0', 'app-1', 'app-3'].map(async (name) => (await world.assignedFor(NS, name)).map((aai) => aai.status?.status).join()));
      return statuses.every((status) => status === 'Assigned');
    }, 60_000, 200);
    const labels = { 'app.kubernetes.io/component': 'nmi' };
    await rawRequest(world.kc, { method: 'POST', path: `/apis/apps/v1/namespaces/${DS_NAMESPACE}/daemonsets`, body: { metadata: { name: DAEMON_SET, labels }, spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'nmi', image: 'example.invalid/nmi:v1' }] } } } } });

    const kubeconfigs = new Map<string, string>();
    for (const version of VERSIONS) kubeconfigs.set(version.name, await world.plane.createClientCertUser(version.user, ['system:masters']));
    const configOf = (version: NmiVersion): IptablesConfig => ({ chain: 'aad-metadata', metadataIp: IMDS_IP, metadataPort: 80, targetIp: pods[0]!.gateway, targetPort: version.port });
    const optionsOf = (version: NmiVersion): NodeNmiOptions => ({
      node,
      kubeconfig: kubeconfigs.get(version.name) ?? '',
      dnatIp: pods[0]!.gateway,
      caFile,
      env: { NMI_DAEMONSET_NAME: DAEMON_SET, POD_NAMESPACE: DS_NAMESPACE },
      extraArgs: [
        `--nmi-port=${String(version.port)}`,
        '--ipt-update-interval-sec=4', // the chart's default: restore times as production gets them
        '--v=4',
        '--per-pod-requests-per-second=100',
        '--per-pod-burst=100',
        '--retry-attempts-for-created=1',
        '--retry-attempts-for-assigned=0',
        '--find-identity-retry-interval=0',
        ...(version.taint ? [`--not-ready-taint=${DEFAULT_NOT_READY_TAINT}`] : [`--custom-user-agent=fail-closed-${version.name}`]),
      ],
    });
    let version = VERSIONS[0]!;
    let nmi: ManagedProcess | undefined;
    const startNmi = async (): Promise<{ at: number; proc: ManagedProcess }> => {
      const at = Date.now();
      nmi = await startNodeNmi(topo, optionsOf(version));
      run.nmis.push(nmi);
      return { at, proc: nmi };
    };
    const current = (): ManagedProcess => {
      if (nmi === undefined) throw new Error('NMI not started');
      return nmi;
    };
    const attempts = async (): Promise<Attempt[]> => (await Promise.all(run.loops.map(async (loop, index) => parseAttempts(pods[index]!.name, await readFile(loop.logPath, 'utf8'))))).flat();
    const exposures: Exposure[] = [];
    /** Waits for the first token to pod0 (its own identity) from an attempt started at/after `since`. */
    const firstToken = async (since: number, what: string): Promise<number> => {
      let found: Attempt | undefined;
      await waitUntil(`a token to pod0 after ${what}`, async () => {
        if (nmi?.exit() !== undefined) throw new Error(`NMI exited during ${what}:\n${await current().tail()}`);
        // Only NMI's answers: a token straight from IMDS (before the first install) is no recovery.
        found = firstTokenAfter((await attempts()).filter((attempt) => !overlapsExposure(attempt, exposures)), pods[0]!.name, identities[0]!.clientId, since);
        return found !== undefined;
      }, 45_000, 100);
      return (found?.end ?? since) - since;
    };
    /** A recovery, and the slowest one per fault kind (rules restored, or first token after a start). */
    const recovered = (fault: string, ms: number): void => {
      counts.recovered(ms);
      const key = `maxRecoverMs:${fault}`;
      counts.details[key] = Math.max(Number(counts.details[key] ?? 0), Math.round(ms));
    };
    const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

    // --- pods run before NMI ever started on this node --------------------------------------------
    const scenarioMs = plan.preNmiMs + plan.cycles * FAULTS.length * (plan.downMs + plan.steadyMs + 12_000) + 60_000;
    const loopsFrom = Date.now();
    for (const pod of pods) run.loops.push(await startLoop(topo, pod, plan, scenarioMs, expected.get(pod.name), pod === pods[3]));
    await settle(plan.preNmiMs);
    counts.faults++;
    const first = await startNmi();
    let installedSeen: number | undefined;
    let taintGoneSeen: number | undefined;
    await waitUntil('the rules installed and the not-ready taint removed', async () => {
      if (current().exit() !== undefined) throw new Error(`NMI exited:\n${await current().tail()}`);
      if (installedSeen === undefined && (await interceptionInstalled(topo, configOf(version)))) installedSeen = Date.now();
      if (taintGoneSeen === undefined && !(await nodeTaints(world, node)).some((taint) => taint.key === DEFAULT_NOT_READY_TAINT)) {
        taintGoneSeen = Date.now();
        // The proof: when the taint is seen gone, the rules are in already.
        if (!(await interceptionInstalled(topo, configOf(version)))) counts.breach('the not-ready taint was removed before NMI’s iptables rules were installed');
      }
      return installedSeen !== undefined && taintGoneSeen !== undefined;
    }, 45_000, 50);
    // Interception is complete when NMI logs it: after the rules, the conntrack flush and the sweep of
    // flows picked up from IMDS's side (a kept-alive connection from before is cut only then).
    const installedAt = await loggedAt(current(), 'iptables redirection installed', first.at);
    exposures.push({ kind: 'before-first-install', from: loopsFrom - 1_000, to: first.at, what: 'beforeNmiStarted' });
    exposures.push({ kind: 'before-first-install', from: first.at + 1, to: installedAt, what: 'whileNmiStarting' });
    counts.details['windowNmiStartToRulesMs'] = installedAt - first.at;
    counts.details['taintRemovedAfterRulesMs'] = (taintGoneSeen ?? 0) - installedAt;
    recovered('pods-before-nmi', await firstToken(first.at, 'the first NMI start'));
    await settle(plan.steadyMs);

    // --- faults --------------------------------------------------------------------------------------
    for (let cycle = 0; cycle < plan.cycles; cycle++) {
      for (const fault of FAULTS) {
        counts.faults++;
        context.log(`fail-closed: cycle ${String(cycle + 1)}/${String(plan.cycles)}: ${fault}`);
        if (fault === 'jump-deleted' || fault === 'chain-flushed') {
          const command = fault === 'jump-deleted' ? ['-D', 'PREROUTING', '-j', 'aad-metadata'] : ['-F', 'aad-metadata'];
          const from = Date.now();
          await topo.execOk(topo.node, 'iptables', ['-w', '5', '-t', 'nat', ...command]);
          const tamperedAt = Date.now();
          await waitUntil(`restore after ${fault}`, () => interceptionInstalled(topo, configOf(version)), 20_000, 50);
          // As at install: restored once NMI has also flushed the flows opened meanwhile (it logs then).
          const restoredAt = Math.max(Date.now(), await loggedAt(current(), 'iptables drift restored', from));
          exposures.push({ kind: 'rule-deleted', from, to: restoredAt, what: fault });
          const restoreMs = restoredAt - tamperedAt;
          if (restoreMs > RESTORE_TARGET_MS) counts.breach(`${fault}: restored after ${String(restoreMs)} ms (target ≤ ${String(RESTORE_TARGET_MS)} ms)`);
          recovered(fault, restoreMs);
          await settle(plan.steadyMs);
          continue;
        }
        const old = current();
        const oldVersion = version;
        if (fault === 'sigkill') {
          old.killSync();
          await old.exited;
        } else {
          if (fault === 'upgrade') {
            version = VERSIONS.find((candidate) => candidate !== version) ?? version;
            await rawRequest(world.kc, { method: 'PATCH', path: `/apis/apps/v1/namespaces/${DS_NAMESPACE}/daemonsets/${DAEMON_SET}`, contentType: 'application/merge-patch+json', body: { spec: { template: { spec: { containers: [{ name: 'nmi', image: `example.invalid/nmi:${version.name}` }] } } } } });
          }
          await old.stop(10_000);
          const exit = old.exit();
          if (exit?.code !== 0) counts.breach(`${fault}: NMI exited ${JSON.stringify(exit)} on SIGTERM`);
        }
        // The old rules must still be in while NMI is down (fail-closed).
        if (!(await interceptionInstalled(topo, configOf(oldVersion)))) {
          counts.breach(`${fault}: the rules were gone after NMI stopped`);
        }
        await settle(plan.downMs);
        const restarted = await startNmi();
        recovered(fault, await firstToken(restarted.at, fault));
        await settle(plan.steadyMs);
      }
    }

    // --- stop and count ------------------------------------------------------------------------------
    await Promise.all(run.loops.map((loop) => loop.stop(10_000)));
    await settle(500); // NMI's buffered log
    const all = await attempts();
    counts.attempts = all.length;
    for (const attempt of all) {
      const outcome = attempt.outcome === 'http' ? `http${String(attempt.status)}` : attempt.outcome;
      const want = expected.get(attempt.pod);
      const exposed = overlapsExposure(attempt, exposures);
      // What NMI answered (bound or unbound pod), apart from what pods got while exposed.
      counts.count(exposed ? `exposed:${outcome}` : `${want === undefined ? 'unbound' : 'bound'}:${outcome}`);
      if (attempt.status === 200 && !exposed) {
        if (want !== undefined && attempt.appid === want) counts.successes++;
        else counts.breach(`${attempt.pod} got a token for appid ${String(attempt.appid)} (bound to ${String(want)}) at ${new Date(attempt.start).toISOString()}`);
      }
    }
    const connections = parseRelay(await readFile(relay.logPath, 'utf8'));
    const relayTally = tallyRelay(connections, podIps, exposures);
    // Per request, not per connection: a kept-alive connection opened before the install must not carry
    // requests to IMDS afterwards (the conntrack flush cuts it).
    const viaImds = answeredByImds(all, connections, (name) => pods.find((pod) => pod.name === name)?.ip ?? '');
    counts.details['requestsAnsweredByImds'] = viaImds.length;
    counts.details['keepAliveRequestsAnsweredByImds'] = viaImds.filter((attempt) => attempt.pod === pods[3]!.name).length;
    for (const attempt of viaImds.filter((candidate) => !overlapsExposure(candidate, exposures))) {
      counts.breach(`${attempt.pod}: a request at ${new Date(attempt.start).toISOString()} was answered by the node's IMDS over a connection opened ${new Date(attempt.openedAt ?? 0).toISOString()} (rules installed)`);
    }
    counts.details['imdsReachedBeforeFirstInstall'] = relayTally.beforeFirstInstall;
    counts.details['imdsReachedWhileRuleDeleted'] = relayTally.whileRuleDeleted;
    // With the filter-table guard (--ipt-guard, on by default) a deleted or flushed redirect refuses pods
    // instead of exposing IMDS: any pod connection to IMDS in those windows is a breach.
    if (relayTally.whileRuleDeleted > 0) counts.breach(`${String(relayTally.whileRuleDeleted)} pod connection(s) reached the node's IMDS while the nat redirect was deleted or flushed, despite the guard`);
    for (const [what, count] of Object.entries(relayTally.byExposure)) counts.details[`imdsReached:${what}`] = count;
    for (const connection of relayTally.breaches) counts.breach(`pod ${connection.address} reached the node's IMDS at ${new Date(connection.time).toISOString()} with our rules installed`);

    // The taint flag is the only reason NMI touches Node objects: v1 (flag) only get/patch its own node, v2 never.
    const events = (await readAuditEvents(world.plane.auditLogPath)).filter((event) => event.objectRef?.resource === 'nodes' && event.stage === 'ResponseComplete');
    for (const item of VERSIONS) {
      const mine = events.filter((event) => event.user.username === item.user);
      counts.details[`nodeRequests:${item.name}${item.taint ? '+taint' : ''}`] = mine.length;
      const wrong = mine.filter((event) => !item.taint || !['get', 'patch'].includes(event.verb) || event.objectRef?.name !== node);
      for (const event of wrong) counts.breach(`NMI ${item.name} (taint flag ${item.taint ? 'on' : 'off'}) made ${event.verb} ${event.requestURI}`);
    }

    const outputs: Record<string, string> = { relay: await readFile(relay.logPath, 'utf8'), mic: mic.output() };
    for (const proc of [...run.nmis, ...run.loops]) outputs[proc.name] = await readFile(proc.logPath, 'utf8');
    for (const finding of secretBreaches(outputs)) counts.breach(finding);
    // Kept-alive pod connections NMI found pinned to IMDS by a flow picked up from IMDS's side, and cut.
    counts.details['pinnedFlowsDeletedByNmi'] = run.nmis
      .flatMap((proc) => (outputs[proc.name] ?? '').split('\n').filter((line) => line.includes('kept pod connections on the node')))
      .reduce((sum, line) => sum + ((JSON.parse(line) as { deleted?: number }).deleted ?? 0), 0);
    counts.details['nmiStarts'] = run.nmis.length;
    counts.details['nmiLogLines'] = run.nmis.length === 0 ? 0 : (await Promise.all(run.nmis.map(async (proc) => (await readFile(proc.logPath, 'utf8')).split('\n').length))).reduce((a, b) => a + b, 0);
    return counts.finish();
  } finally {
    await run.close();
  }
}

/** The time of NMI's first JSON log record at or after `since` whose message is `message` (bounded wait). */
async function loggedAt(proc: ManagedProcess, message: string, since: number): Promise<number> {
  let found: number | undefined;
  await waitUntil(`NMI to log "${message}"`, async () => {
    for (const line of (await readFile(proc.logPath, 'utf8')).split('\n')) {
      if (!line.includes(message)) continue;
      const time = Date.parse((JSON.parse(line) as { time: string }).time);
      if (time >= since) {
        found = time;
        return true;
      }
    }
    return false;
  }, 15_000, 100);
  return found ?? since;
}

export const failClosedScenario: ReliabilityScenario = {
  name: 'fail-closed',
  description: 'pods asking for tokens while NMI is killed, terminated, upgraded, its rules deleted, and before NMI ever ran: pod requests that reached the node IMDS',
  needsRoot: true,
  run: runFailClosed,
};
