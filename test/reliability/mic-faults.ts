/**
 * Faults for MIC (issue 8): two MIC replicas (debug logs) against a real kube-apiserver and the Azure
 * simulator with a scale set and two VMs; phases of ARM 429 storms with Retry-After, 409 conflicts,
 * 500s, hangs and dropped connections, an identity deleted in Azure while assigned, an API server
 * restart, watches expiring (410 Gone) and the leader SIGKILLed mid-wave. After each, the faults stop
 * and everything must converge. Breaches: a phase that does not converge, a write (or read) inside a
 * Retry-After window, a duplicate or lost assignment, an identity missing or left over on a VM /
 * scale set, a MIC replica that restarted or lost its lease, a phase over its ARM call bound, a
 * secret in MIC's logs.
 * @module
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { armRequests, isRunning, MicWorld } from '../support/mic-world.ts';
import { CountsBuilder, type ReliabilityScenario, type ScenarioContext, type SuiteCounts } from './counts.ts';
import { startApiProxy } from './mic-faults/api-proxy.ts';
import { armSummary, faultedByKind, retryAfterBreaches } from './mic-faults/arm-log.ts';
import { LossMonitor, type PodSpec } from './mic-faults/model.ts';
import { apiServerRestart, conflict, identityDeleted, leaderKill, serverErrors, throttleStorm, timeouts, watchExpiry } from './mic-faults/phases.ts';
import { FaultRun, LRO, SIZES } from './mic-faults/run.ts';
import { secretBreaches } from './secret-scan.ts';

async function runScenario(context: ScenarioContext): Promise<SuiteCounts> {
  const counts = new CountsBuilder('mic-faults', context.scale);
  const sizes = SIZES[context.scale];
  const world = await MicWorld.start({
    scaleSetNodes: 3,
    vmNodes: 2,
    lroDurationMs: LRO,
    // etcd compacts every second and watches bypass the cache: a watch resumed from an old version gets 410.
    extraApiServerArgs: ['--etcd-compaction-interval=1s', '--watch-cache=false'],
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'pod-identity-mic-faults-'));
  const proxy = await startApiProxy(Number(new URL(world.plane.server).port));
  const run = new FaultRun({ world, counts, sizes, context, proxy, kubeconfig: proxy.kubeconfigVia(world.plane.kubeconfigPath, world.plane.server, path.join(dir, 'via-proxy.kubeconfig')) });
  const monitor = new LossMonitor(world, run.expect);
  const everyMic: { name: string; output: () => string }[] = [];
  try {
    const first = await run.startMic();
    const second = await run.startMic();
    everyMic.push(first, second);
    const leader = await run.leader();
    await run.waitStandby(leader === first ? second : first);

    // Pods that are there before any fault; some leave during faults (removals under faults).
    const ns = await world.namespace('mf-base');
    const baseIds = await run.identities(ns, 'base', 3);
    const base = run.specs(ns, 'base', baseIds, Math.max(6, sizes.pods));
    await Promise.all(base.map((pod) => run.createPod(pod)));
    const settled = await run.converge(60_000);
    if (!settled.ok) throw new Error(`mic-faults: the fault-free start did not converge: ${settled.problems.join('; ')}`);
    counts.successes += base.length;
    monitor.start(250);

    const leaving = [...base];
    const next = (): PodSpec | undefined => leaving.shift();
    for (run.cycle = 0; run.cycle < sizes.cycles; run.cycle++) {
      await throttleStorm(run, next());
      await conflict(run);
      await serverErrors(run, next());
      await timeouts(run);
      await identityDeleted(run);
      await apiServerRestart(run);
      await watchExpiry(run, next());
      await leaderKill(run);
      for (const { mic } of run.mics) if (!everyMic.includes(mic)) everyMic.push(mic);
    }
    await monitor.stop();
    const final = await run.converge(30_000);
    if (!final.ok) counts.breach(`final state: ${final.problems.slice(0, 10).join('; ')}`);
    await verify(run, monitor, everyMic);
  } finally {
    await monitor.stop();
    if (process.env['MIC_TEST_LOGS'] === '1') for (const mic of everyMic) context.log(`--- ${mic.name}\n${mic.output()}`);
    await world.stop();
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return counts.finish();
}

/** The checks over the whole run: Retry-After windows, duplicates, losses, replicas, ARM counts, secrets. */
async function verify(run: FaultRun, monitor: LossMonitor, everyMic: readonly { name: string; output: () => string }[]): Promise<void> {
  const { counts, world } = run;
  const entries = await armRequests(world);
  const windows = retryAfterBreaches(entries, run.retryAfter);
  for (const text of windows.writes) counts.breach(`write inside Retry-After: ${text}`);
  for (const text of windows.reads) counts.breach(`read inside Retry-After: ${text}`);
  counts.details['polls_inside_read_retry_after'] = windows.polls;
  if (windows.minGapMs !== undefined) counts.details['min_write_gap_after_429_ms'] = windows.minGapMs;

  const assigned = await world.assignedIdentities();
  const seen = new Map<string, number>();
  for (const entry of assigned) {
    const key = `${entry.spec.podNamespace}/${entry.spec.pod}|${entry.spec.azureIdentityRef?.metadata.name ?? ''}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  for (const [key, count] of seen) if (count > 1) counts.breach(`duplicate assignment: ${count} AAIs for ${key}`);
  for (const loss of monitor.losses) counts.breach(`lost assignment: ${loss}`);
  counts.details['loss_samples'] = monitor.samples;

  for (const { mic, pid } of run.mics) {
    if (!isRunning(mic) || mic.child.pid !== pid) counts.breach(`${mic.name} restarted or exited (pid ${pid ?? '?'} → ${mic.child.pid ?? '?'}, exit ${mic.child.exitCode ?? mic.child.signalCode ?? '-'})`);
    if (mic.output().includes('"msg":"lost leadership"')) counts.breach(`${mic.name} lost its leadership (not killed)`);
  }

  const summary = armSummary(entries);
  counts.details['arm_calls'] = summary.calls;
  counts.details['arm_writes'] = summary.writes;
  counts.details['arm_writes_ok'] = summary.writesOk;
  counts.details['arm_reads'] = summary.reads;
  counts.details['arm_polls'] = summary.polls;
  for (const [kind, value] of Object.entries(faultedByKind(entries))) counts.details[`faulted_${kind}`] = value;
  counts.details['api_connections_cut'] = run.proxy.cut;
  counts.details['arm_by_phase'] = run.armByPhase.join(',');

  const azureJson = JSON.parse(readFileSync(world.azureJsonPath, 'utf8')) as { aadClientSecret?: string };
  const outputs = Object.fromEntries(everyMic.map((mic) => [mic.name, mic.output()]));
  counts.details['mic_log_lines'] = Object.values(outputs).reduce((sum, text) => sum + text.split('\n').length, 0);
  for (const finding of secretBreaches(outputs, azureJson.aadClientSecret === undefined ? [] : [azureJson.aadClientSecret])) counts.breach(`secret in logs: ${finding}`);
}

export const micFaultsScenario: ReliabilityScenario = {
  name: 'mic-faults',
  description: 'MIC under ARM 429/409/500/timeouts, a deleted identity, API server restart, watch expiry (410) and leader SIGKILL mid-wave',
  needsRoot: false,
  run: runScenario,
};
