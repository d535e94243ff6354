/**
 * Soak (issue 8): a bounded run of pod churn with steady token traffic against a real MIC (`--v=4`) and
 * one NMI per node (a scale-set node and a VM node), both with the images' runtime settings. For the
 * run's duration pods are created (bound to one of three identities, or unbound), given an address,
 * and deleted, at a bounded rate; workers ask NMI for tokens from live bound pods (their own identity's
 * token, claims checked), live unbound pods and deleted pods (refusals). MIC's and NMI's RSS, open fds,
 * heap and active handles are sampled; growth beyond the bounds of soak-sampler.ts between the second
 * and the last quarter is a breach. After a settle time, AAIs of deleted pods and identities left on
 * nodes with no pod needing them are breaches, as are secrets in MIC's or NMI's output.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { identityResourceId, lastRequestSeq, MicWorld, waitForHealth, type MicProcess } from '../support/mic-world.ts';
import { startNmi, type NmiProcess } from '../support/nmi-world.ts';
import { CountsBuilder, type ReliabilityScenario, type Scale, type ScenarioContext, type SuiteCounts } from './counts.ts';
import { secretBreaches } from './secret-scan.ts';
import { flatness, median, pidWithArgument, sampleProcess, type ResourceSample, type SampleField } from './soak-sampler.ts';
import { judge, timedTokenRequest, type SoakIdentity, type SoakPod, type TrafficKind } from './soak-traffic.ts';
import { imageRuntime } from '../../bench/lib/runtime-settings.ts';

interface SoakPlan {
  readonly seconds: number;
  readonly sampleEveryMs: number;
  /** Pods alive at once; each churn tick creates one and deletes the oldest beyond this. */
  readonly livePods: number;
  readonly churnEveryMs: number;
  readonly workers: number;
  /** Token requests per second, all workers together (upper bound). */
  readonly maxRequestsPerSecond: number;
  readonly settleMs: number;
}

const PLANS: Readonly<Record<Scale, SoakPlan>> = {
  ci: { seconds: 75, sampleEveryMs: 2_000, livePods: 8, churnEveryMs: 1_000, workers: 4, maxRequestsPerSecond: 20, settleMs: 30_000 },
  full: { seconds: 600, sampleEveryMs: 5_000, livePods: 8, churnEveryMs: 1_000, workers: 4, maxRequestsPerSecond: 20, settleMs: 60_000 },
};

/** The images' runtime environment, read from Dockerfile.mic and Dockerfile.nmi (as the benchmark does). */
const MIC_RUNTIME = imageRuntime('mic').env;
const NMI_RUNTIME = imageRuntime('nmi').env;

const NS = 'soak';
const RESOURCES = ['https://management.azure.com/', 'https://vault.azure.net'];
/** A deleted pod's address is asked from only after this (NMI's informer has had time to see the delete). */
const DELETED_GRACE_MS = 3_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** A ghost pod's waiting request must be answered this soon after the pod's deletion. */
const GHOST_RELEASE_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(Math.random() * items.length)];
const describeError = (error: unknown): string => (error instanceof Error ? (error.name === 'TimeoutError' ? 'Timeout' : error.name) : 'Unknown');

function planFor(scale: Scale): SoakPlan {
  const seconds = Number(process.env['SOAK_SECONDS']);
  return Number.isFinite(seconds) && seconds > 0 ? { ...PLANS[scale], seconds } : PLANS[scale];
}

interface Watched {
  readonly name: string;
  readonly pid: number;
  readonly metricsPort: number;
  readonly samples: ResourceSample[];
}

/** What MIC and the simulator should show once everything settled: AAIs of live bound pods, their identities per node. */
async function settleBreaches(world: MicWorld, nodes: readonly string[], live: readonly SoakPod[], settleMs: number): Promise<{ breaches: string[]; ms: number }> {
  const started = performance.now();
  const bound = live.filter((pod) => pod.identity !== undefined);
  const assignable = bound.filter((pod) => pod.identity?.assignable === true);
  for (;;) {
    const breaches: string[] = [];
    const assigned = (await world.assignedIdentities()).filter((aai) => aai.spec.podNamespace === NS);
    const wanted = new Set(bound.map((pod) => pod.name));
    const leftover = assigned.filter((aai) => !wanted.has(aai.spec.pod));
    if (leftover.length > 0) breaches.push(`${String(leftover.length)} AAI(s) left for deleted or unbound pods after ${String(settleMs)} ms: ${leftover.slice(0, 5).map((aai) => `${aai.spec.pod}@${aai.spec.nodename}`).join(', ')}`);
    const missing = assignable.filter((pod) => !assigned.some((aai) => aai.spec.pod === pod.name && aai.status?.status === 'Assigned'));
    if (missing.length > 0) breaches.push(`${String(missing.length)} live bound pod(s) without an Assigned AAI: ${missing.slice(0, 5).map((pod) => pod.name).join(', ')}`);
    for (const [index, node] of nodes.entries()) {
      const actual = index === 0 ? world.scaleSetIdentities() : world.vmIdentities(node);
      const needed = new Set(assignable.filter((pod) => pod.node === node).map((pod) => pod.identity?.id.toLowerCase() ?? ''));
      const extra = actual.filter((id) => !needed.has(id));
      const absent = [...needed].filter((id) => !actual.includes(id));
      if (extra.length > 0) breaches.push(`node ${node}: ${String(extra.length)} identit(y/ies) left with no pod needing them: ${extra.map((id) => id.split('/').at(-1) ?? id).join(', ')}`);
      if (absent.length > 0) breaches.push(`node ${node}: ${String(absent.length)} needed identit(y/ies) missing: ${absent.map((id) => id.split('/').at(-1) ?? id).join(', ')}`);
    }
    const ms = performance.now() - started;
    if (breaches.length === 0 || ms > settleMs) return { breaches, ms };
    await sleep(1_000);
  }
}

async function runSoak(context: ScenarioContext): Promise<SuiteCounts> {
  const plan = planFor(context.scale);
  const counts = new CountsBuilder('soak', context.scale);
  const world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 1, lroDurationMs: { vm: 200, vmss: 300 } });
  const nmis: NmiProcess[] = [];
  let mic: MicProcess | undefined;
  try {
    mic = await world.startMic('mic-soak', ['--v=4'], MIC_RUNTIME);
    const micStarted = mic;
    // Generous on a loaded 2-core machine; a MIC that never gets there says why in its output.
    await waitForHealth(world, micStarted, 'Active', 60_000, 200).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; MIC output:\n${micStarted.output().slice(-3_000)}`);
    });
    const nodes = [world.scaleSetNodes[0] ?? '', world.vmNodes[0] ?? ''];
    for (const node of nodes) nmis.push(await startNmi(world, node, [], NMI_RUNTIME));
    const nmiOf = new Map(nmis.map((nmi) => [nmi.node, nmi]));
    await world.namespace(NS);
    const identities: SoakIdentity[] = [];
    for (let index = 0; index < 3; index++) {
      const azure = await world.azureIdentity(`soak-id-${String(index)}`);
      const identity = { name: `soak-id-${String(index)}`, selector: `soak-${String(index)}`, id: azure.id, clientId: azure.clientId, assignable: true };
      await world.createIdentity(NS, identity.name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
      await world.createBinding(NS, `${identity.name}-binding`, identity.name, identity.selector);
      identities.push(identity);
    }
    // One identity MIC can never assign (no such Azure identity): its pods' requests wait in NMI until the pod goes.
    const ghost: SoakIdentity = { name: 'soak-ghost', selector: 'soak-ghost', id: identityResourceId('soak-ghost'), clientId: randomUUID(), assignable: false };
    await world.createIdentity(NS, ghost.name, { type: 0, resourceID: ghost.id, clientID: ghost.clientId });
    await world.createBinding(NS, `${ghost.name}-binding`, ghost.name, ghost.selector);
    const watched: Watched[] = [
      { name: 'mic', pid: mic.child.pid ?? 0, metricsPort: mic.metricsPort, samples: [] },
      ...nmis.map((nmi, index) => ({ name: `nmi${String(index)}`, pid: pidWithArgument(`--nmi-port=${String(nmi.port)}`), metricsPort: nmi.metricsPort, samples: [] })),
    ];
    context.log(`soak: ${String(plan.seconds)} s, ${String(plan.livePods)} live pods, a pod every ${String(plan.churnEveryMs)} ms, ≤ ${String(plan.maxRequestsPerSecond)} token requests/s from ${String(plan.workers)} workers; pids ${watched.map((entry) => `${entry.name}=${String(entry.pid)}`).join(' ')}`);

    const live: SoakPod[] = [];
    const deleted: SoakPod[] = [];
    const ghostWaits: Promise<void>[] = [];
    const ghostReleaseMs: number[] = [];
    const started = performance.now();
    const deadline = started + plan.seconds * 1_000;
    const running = (): boolean => performance.now() < deadline;

    const podOp = async (what: string, operation: () => Promise<void>): Promise<boolean> => {
      counts.attempts++;
      counts.count('podOperations');
      try {
        await operation();
        counts.successes++;
        return true;
      } catch (error) {
        counts.count(`podOpErrors_${what}`);
        context.log(`soak: ${what} failed: ${error instanceof Error ? error.message.slice(0, 200) : String(error)}`);
        return false;
      }
    };
    const deletePod = async (pod: SoakPod): Promise<void> => {
      pod.deletedAt = performance.now();
      await podOp('delete', () => world.deletePod(NS, pod.name));
      counts.count('podsDeleted');
      deleted.push(pod);
      if (deleted.length > 50) deleted.shift();
    };

    const churn = async (): Promise<void> => {
      for (let index = 0; running(); index++) {
        const tick = performance.now();
        const node = nodes[index % nodes.length] ?? '';
        // One pod in four unbound, one in eight bound to the ghost; the others cycle through the identities.
        const pod: SoakPod = {
          name: `churn-${String(index)}`,
          node,
          ip: `127.30.${String(Math.floor(index / 250))}.${String((index % 250) + 1)}`,
          identity: index % 4 === 3 ? undefined : index % 8 === 5 ? ghost : identities[index % identities.length],
          ipAt: undefined,
          deletedAt: undefined,
          served: false,
        };
        if (await podOp('create', () => world.createPod(NS, pod.name, node, pod.identity?.selector))) {
          counts.count('podsChurned');
          live.push(pod);
          if (await podOp('patchIp', () => world.setPodPhase(NS, pod.name, 'Running', pod.ip))) pod.ipAt = performance.now();
          if (pod.identity === ghost && pod.ipAt !== undefined) ghostWaits.push(ghostWait(pod));
        }
        while (live.length > plan.livePods) {
          const oldest = live.shift();
          if (oldest !== undefined) await deletePod(oldest);
        }
        await sleep(Math.max(0, plan.churnEveryMs - (performance.now() - tick)));
      }
    };

    /** One request from a ghost pod, left waiting in NMI: it must be refused within GHOST_RELEASE_MS of the pod's deletion. */
    const ghostWait = async (pod: SoakPod): Promise<void> => {
      const nmi = nmiOf.get(pod.node);
      if (nmi === undefined) return;
      counts.attempts++;
      counts.count('ghostRequests');
      try {
        const answer = await timedTokenRequest(nmi.port, pod.ip, RESOURCES[0] ?? '', 150_000);
        const answeredAt = performance.now();
        if (answer.status === 200) {
          counts.breach(`ghost pod ${pod.name} got a token for an identity that was never assigned`);
        } else if (pod.deletedAt === undefined) {
          counts.count(`ghostRefusedAlive${String(answer.status)}`);
        } else {
          const ms = Math.max(0, answeredAt - pod.deletedAt);
          ghostReleaseMs.push(ms);
          if (ms > GHOST_RELEASE_MS) counts.breach(`ghost pod ${pod.name}: its waiting request was answered ${String(Math.round(ms))} ms after the pod's deletion (bound ${String(GHOST_RELEASE_MS)} ms)`);
          else counts.successes++;
        }
      } catch (error) {
        counts.count(`requestErrors_ghost_${describeError(error)}`);
      }
    };

    const traffic = async (worker: number): Promise<void> => {
      const spacingMs = (1_000 * plan.workers) / plan.maxRequestsPerSecond;
      for (let index = 0; running(); index++) {
        const tick = performance.now();
        const roll = Math.random();
        const kind: TrafficKind = roll < 0.7 ? 'bound' : roll < 0.85 ? 'unbound' : 'deleted';
        const candidates =
          kind === 'deleted'
            ? deleted.filter((pod) => (pod.deletedAt ?? tick) <= tick - DELETED_GRACE_MS && pod.ipAt !== undefined)
            : live.filter((pod) => pod.ipAt !== undefined && pod.deletedAt === undefined && pod.identity !== ghost && (kind === 'bound') === (pod.identity !== undefined));
        const pod = pick(candidates);
        const nmi = pod === undefined ? undefined : nmiOf.get(pod.node);
        if (pod !== undefined && nmi !== undefined) {
          counts.attempts++;
          counts.count('tokenRequests');
          try {
            const answer = await timedTokenRequest(nmi.port, pod.ip, RESOURCES[(worker + index) % RESOURCES.length] ?? '', REQUEST_TIMEOUT_MS);
            const verdict = judge(kind, pod, answer);
            counts.count(verdict.count);
            if (verdict.outcome === 'success') counts.successes++;
            if (verdict.outcome === 'breach') counts.breach(verdict.description);
          } catch (error) {
            counts.count(`requestErrors_${kind}_${describeError(error)}`);
          }
        }
        await sleep(Math.max(pod === undefined ? 100 : 0, spacingMs - (performance.now() - tick)));
      }
    };

    // The simulator's request log is a ring (10,000 entries): read what is new at every sample.
    let lastSeq = await lastRequestSeq(world);
    const countRequests = async (): Promise<void> => {
      const { entries } = await world.admin.requests({ since: lastSeq });
      for (const entry of entries) {
        lastSeq = Math.max(lastSeq, entry.seq);
        const failed = entry.status === 0 || entry.status >= 400;
        if (entry.service.startsWith('imds')) counts.count(failed ? 'imdsCallsFailed' : 'imdsCalls');
        else if (entry.service === 'arm' && (entry.method === 'PATCH' || entry.method === 'PUT') && /microsoft\.compute\//i.test(entry.path)) counts.count(failed ? 'armWritesFailed' : 'armWrites');
        else if (entry.service === 'arm') counts.count('armOtherCalls');
      }
    };

    const sample = async (): Promise<void> => {
      while (running()) {
        const tick = performance.now();
        await countRequests().catch(() => { counts.count('requestLogErrors'); });
        for (const entry of watched) {
          try {
            entry.samples.push(await sampleProcess(entry.pid, entry.metricsPort, started));
          } catch (error) {
            counts.count(`sampleErrors_${entry.name}`);
            if (entry.samples.length > 0 && counts.details[`sampleErrors_${entry.name}`] === 1) counts.breach(`${entry.name} (pid ${String(entry.pid)}) could not be sampled: ${describeError(error)}`);
          }
        }
        const elapsed = Math.round((tick - started) / 1_000);
        if (elapsed > 0 && elapsed % 30 < plan.sampleEveryMs / 1_000) {
          const last = watched.map((entry) => { const at = entry.samples.at(-1); return `${entry.name} ${at?.rssMb.toFixed(0) ?? '?'} MB/${String(at?.fds ?? '?')} fds`; });
          context.log(`soak: ${String(elapsed)} s: ${String(counts.details['podsChurned'] ?? 0)} pods, ${String(counts.details['tokenRequests'] ?? 0)} requests, ${String(counts.details['tokensServed'] ?? 0)} tokens, ${String(counts.breachDetails.length)} breaches; ${last.join(', ')}`);
        }
        await sleep(Math.max(0, plan.sampleEveryMs - (performance.now() - tick)));
      }
    };

    await Promise.all([churn(), sample(), ...Array.from({ length: plan.workers }, (_, worker) => traffic(worker))]);

    for (const entry of watched) {
      for (const result of flatness(entry.samples)) {
        const unit = result.field === 'rssMb' || result.field === 'heapUsedMb' ? ' MB' : '';
        if (result.breached) counts.breach(`${entry.name} ${result.field} grew ${result.baseline.toFixed(1)} → ${result.end.toFixed(1)}${unit} (median of 2nd vs last quarter of ${String(entry.samples.length)} samples; allowed +${result.allowed.toFixed(1)})`);
      }
      const first = entry.samples[Math.floor(entry.samples.length / 4)];
      const last = entry.samples.at(-1);
      const series = (field: SampleField): string => {
        const all = entry.samples.map((item) => item[field]).filter((value) => Number.isFinite(value));
        const format = (value: number | undefined): string => (value === undefined || !Number.isFinite(value) ? '?' : field === 'fds' || field === 'handles' ? String(value) : value.toFixed(1));
        return `${format(first?.[field])}→${format(last?.[field])} (max ${format(all.length === 0 ? undefined : Math.max(...all))})`;
      };
      counts.details[`${entry.name}RssMb`] = series('rssMb');
      counts.details[`${entry.name}Fds`] = series('fds');
      counts.details[`${entry.name}HeapMb`] = series('heapUsedMb');
      counts.details[`${entry.name}Handles`] = series('handles');
      counts.details[`${entry.name}HeapTotalMb`] = series('heapTotalMb');
      counts.details[`${entry.name}ExternalMb`] = series('externalMb');
    }

    // The pods still alive must keep exactly their assignments; then every pod goes and nothing may stay.
    const settled = await settleBreaches(world, nodes, live, plan.settleMs);
    for (const breach of settled.breaches) counts.breach(`with ${String(live.length)} pods alive: ${breach}`);
    counts.details['settleMs'] = Math.round(settled.ms);
    for (const pod of [...live]) await deletePod(pod);
    live.length = 0;
    const drained = await settleBreaches(world, nodes, [], plan.settleMs);
    for (const breach of drained.breaches) counts.breach(`after deleting every pod: ${breach}`);
    counts.details['drainMs'] = Math.round(drained.ms);
    await Promise.all(ghostWaits);
    counts.details['ghostReleaseMs'] = ghostReleaseMs.length === 0 ? '-' : `median ${String(Math.round(median(ghostReleaseMs)))} max ${String(Math.round(Math.max(...ghostReleaseMs)))}`;
    await countRequests();

    for (const [name, exited] of [['mic', mic.child.exitCode ?? mic.child.signalCode], ...nmis.map((nmi, index) => [`nmi${String(index)}`, nmiExit(nmi)] as const)] as const) {
      if (exited !== null) counts.breach(`${name} exited during the soak (${String(exited)})`);
    }
    const outputs: Record<string, string> = { mic: mic.output() };
    for (const [index, nmi] of nmis.entries()) outputs[`nmi${String(index)}`] = nmi.output();
    for (const breach of secretBreaches(outputs, [knownSecret(world)])) counts.breach(breach);
    counts.details['micLogLines'] = mic.output().split('\n').length - 1;
    return counts.finish();
  } finally {
    await Promise.all(nmis.map((nmi) => nmi.stop()));
    await world.stop();
  }
}

/** Whether an NMI's process already exited (NmiProcess has no child handle: look for its pid). */
function nmiExit(nmi: NmiProcess): string | null {
  try {
    pidWithArgument(`--nmi-port=${String(nmi.port)}`);
    return null;
  } catch {
    return 'gone';
  }
}

/** MIC's client secret from the world's azure.json: it must never be printed. */
function knownSecret(world: MicWorld): string {
  const config = JSON.parse(readFileSync(world.azureJsonPath, 'utf8')) as { aadClientSecret?: string };
  return config.aadClientSecret ?? '';
}

export const soakScenario: ReliabilityScenario = {
  name: 'soak',
  description: 'pod churn with steady token traffic against MIC (--v=4) and two NMIs: memory and handles flat, no leftovers, error counts',
  needsRoot: false,
  run: runSoak,
};
