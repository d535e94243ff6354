/**
 * Soak for footprint (issue 17): is RSS flat over time for MIC and NMI, compiled build, the images'
 * runtime settings? One MicWorld, MIC, and NMI for one node (rootless: pods are 127.x addresses).
 * For the run's duration pods churn (one created every 2 s, the oldest beyond 8 deleted; three bound
 * identities) and a bounded token load asks NMI from live Assigned pods (≤ 10 req/s, ≤ 20 in flight).
 * After a warm-up (60 s; quick 30 s), both processes' RSS is sampled every few seconds; the figures are the least-squares
 * slope (MB/min) and the last window's median against the first's (one minute each in the full
 * 10-minute run; a third of the 90 s quick run). BENCH_SOAK_SECONDS overrides the measured duration.
 * The correctness soak (breaches, fds, handles, ghost pods) is test/reliability/soak.ts.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { pidWithArgument } from '../../src/devenv/process.ts';
import { MicWorld } from '../../test/support/mic-world.ts';
import { startNmi, tokenRequest } from '../../test/support/nmi-world.ts';
import { sourceRoot, useCompiledBuild } from '../lib/compiled-build.ts';
import { flatness, type Flatness, type RssSample } from '../lib/flatness.ts';
import { probeOutput, withHeapProbe } from '../lib/heap-probe.ts';
import { describeSplit, measureSplit, splitRecord } from '../lib/memory-split.ts';
import { rssMb } from '../lib/proc.ts';
import { describeRuntime, imageRuntime } from '../lib/runtime-settings.ts';
import { summarize } from '../lib/stats.ts';
import type { Figure, Suite, SuiteContext } from '../lib/types.ts';
import { activeMic, AssignedWatcher, boundIdentity, sleep } from '../lib/world.ts';

interface SoakPlan {
  readonly measuredSeconds: number;
  readonly warmupSeconds: number;
  readonly sampleEveryMs: number;
  readonly windowMs: number;
  readonly livePods: number;
  readonly churnEveryMs: number;
  readonly requestEveryMs: number;
  readonly maxInFlight: number;
}

const FULL: SoakPlan = { measuredSeconds: 600, warmupSeconds: 60, sampleEveryMs: 5_000, windowMs: 60_000, livePods: 8, churnEveryMs: 2_000, requestEveryMs: 100, maxInFlight: 20 };
/** Quick: 30 s of warm-up (with 15 s the heap was still growing to its working size: ~4 MB/min in the first 90 s, before and after). */
const QUICK: SoakPlan = { ...FULL, measuredSeconds: 90, warmupSeconds: 30, sampleEveryMs: 2_000 };
/** Slope and growth bounds: what a leak over minutes exceeds and GC noise does not. */
const MAX_SLOPE_MB_PER_MIN = 0.5;
const MAX_GROWTH_PERCENT = 5;
const ARM = 'https://management.azure.com/';
const NS = 'bench-soak';

function planFor(quick: boolean): SoakPlan {
  const plan = quick ? QUICK : FULL;
  const seconds = Number(process.env['BENCH_SOAK_SECONDS']);
  return Number.isFinite(seconds) && seconds > 0 ? { ...plan, measuredSeconds: Math.min(seconds, 3600) } : plan;
}

interface Load {
  tokens: number;
  statuses: Map<number, number>;
  podsCreated: number;
  podsDeleted: number;
}

/** Churns pods until `until` (performance.now()); bounded by the time and the churn interval. */
async function churn(world: MicWorld, node: string, identities: readonly string[], live: string[], plan: SoakPlan, until: number, load: Load, ips: Map<string, string>): Promise<void> {
  while (performance.now() < until) {
    const index = load.podsCreated;
    const name = `s${index}`;
    const ip = `127.50.${Math.floor(index / 250) % 250}.${(index % 250) + 1}`;
    await world.createPod(NS, name, node, identities[index % identities.length], { ip });
    ips.set(name, ip);
    live.push(name);
    load.podsCreated++;
    while (live.length > plan.livePods) {
      const oldest = live.shift()!;
      ips.delete(oldest);
      await world.deletePod(NS, oldest);
      load.podsDeleted++;
    }
    await sleep(plan.churnEveryMs);
  }
}

/** Token requests from live Assigned pods every `requestEveryMs`, at most `maxInFlight` at once, until `until`. */
async function traffic(nmi: { port: number }, watcher: AssignedWatcher, live: readonly string[], ips: ReadonlyMap<string, string>, plan: SoakPlan, until: number, load: Load): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let turn = 0;
  while (performance.now() < until) {
    const ready = live.filter((name) => watcher.assignedAt.has(`${NS}/${name}`));
    const name = ready[turn++ % Math.max(1, ready.length)];
    const ip = name === undefined ? undefined : ips.get(name);
    if (ip !== undefined && inFlight.size < plan.maxInFlight) {
      const request = tokenRequest(nmi, ip, { resource: ARM }).then(
        (answer) => { load.statuses.set(answer.status, (load.statuses.get(answer.status) ?? 0) + 1); if (answer.status === 200) load.tokens++; },
        () => { load.statuses.set(-1, (load.statuses.get(-1) ?? 0) + 1); },
      );
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    await sleep(plan.requestEveryMs);
  }
  await Promise.all(inFlight);
}

function soakFigures(process: string, samples: readonly RssSample[], flat: Flatness, plan: SoakPlan, extra: string): Figure[] {
  const seconds = plan.measuredSeconds;
  const window = `${(flat.windowMs / 1000).toFixed(0)} s windows`;
  return [
    { name: `soak ${seconds} s: ${process} RSS slope`, unit: 'MB/min', summary: summarize([flat.slopeMbPerMinute]), target: { kind: 'max', value: MAX_SLOPE_MB_PER_MIN, source: 'issue 17: RSS flat (least-squares slope over the measured window)' }, notes: `${flat.samples} samples every ${plan.sampleEveryMs / 1000} s over ${(flat.durationMs / 1000).toFixed(0)} s after ${plan.warmupSeconds} s warm-up` },
    { name: `soak ${seconds} s: ${process} RSS last vs first window`, unit: '%', summary: summarize([flat.growthPercent]), target: { kind: 'max', value: MAX_GROWTH_PERCENT, source: 'issue 17: RSS flat (median of the last window ≤ first + 5 %)' }, notes: `first ${flat.firstMb.toFixed(1)} MB, last ${flat.lastMb.toFixed(1)} MB (medians of ${window})` },
    { name: `soak ${seconds} s: ${process} RSS`, unit: 'MB', summary: summarize(samples.map((sample) => sample.rssMb)), notes: extra, details: { samplesMbBySecond: Object.fromEntries(samples.map((sample) => [String(Math.round(sample.atMs / 1000)), Math.round(sample.rssMb * 10) / 10])) } },
  ];
}

export const soakSuite: Suite = {
  name: 'soak',
  description: 'MIC and NMI RSS over time under pod churn and a bounded token load (full: 10 min; quick: 90 s): slope and last vs first window',
  async run(context: SuiteContext) {
    useCompiledBuild();
    const plan = planFor(context.quick);
    const world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 200, vmss: 300 } });
    const watcher = new AssignedWatcher(world);
    try {
      const micProbe = probeOutput('mic-soak');
      const nmiProbe = probeOutput('nmi-soak');
      const mic = await activeMic(world, 'mic-soak', [], withHeapProbe(imageRuntime('mic').env, micProbe));
      const node = world.scaleSetNodes[0]!;
      await world.namespace(NS);
      const identities = ['a', 'b', 'c'];
      for (const name of identities) await boundIdentity(world, NS, name);
      await watcher.start();
      const nmi = await startNmi(world, node, [], withHeapProbe(imageRuntime('nmi').env, nmiProbe));
      try {
        const micPid = mic.child.pid ?? 0;
        const nmiPid = pidWithArgument(`--nmi-port=${nmi.port}`);
        const load: Load = { tokens: 0, statuses: new Map(), podsCreated: 0, podsDeleted: 0 };
        const live: string[] = [];
        const ips = new Map<string, string>();
        const started = performance.now();
        const measuredFrom = started + plan.warmupSeconds * 1000;
        const until = measuredFrom + plan.measuredSeconds * 1000;
        const churning = churn(world, node, identities, live, plan, until, load, ips);
        const asking = traffic(nmi, watcher, live, ips, plan, until, load);
        const micSamples: RssSample[] = [];
        const nmiSamples: RssSample[] = [];
        await sleep(measuredFrom - performance.now());
        context.log(`warm-up done: ${load.podsCreated} pods created, ${load.tokens} tokens; sampling RSS every ${plan.sampleEveryMs} ms for ${plan.measuredSeconds} s`);
        let nextLog = performance.now() + 60_000;
        while (performance.now() < until) {
          const atMs = performance.now() - measuredFrom;
          micSamples.push({ atMs, rssMb: rssMb(micPid) });
          nmiSamples.push({ atMs, rssMb: rssMb(nmiPid) });
          if (performance.now() > nextLog) {
            context.log(`${(atMs / 1000).toFixed(0)} s: MIC ${micSamples.at(-1)!.rssMb.toFixed(1)} MB, NMI ${nmiSamples.at(-1)!.rssMb.toFixed(1)} MB; ${load.podsCreated} pods created, ${load.tokens} tokens`);
            nextLog += 60_000;
          }
          await sleep(Math.min(plan.sampleEveryMs, Math.max(0, until - performance.now())));
        }
        await Promise.all([churning, asking]);
        const micSplit = await measureSplit(micPid, micProbe);
        const nmiSplit = await measureSplit(nmiPid, nmiProbe);
        const micFlat = flatness(micSamples, plan.windowMs);
        const nmiFlat = flatness(nmiSamples, plan.windowMs);
        const statuses = JSON.stringify(Object.fromEntries(load.statuses));
        const work = `${load.podsCreated} pods created, ${load.podsDeleted} deleted (≤ ${plan.livePods} live, one every ${plan.churnEveryMs / 1000} s); ${load.tokens} tokens from NMI (statuses ${statuses})`;
        context.log(`MIC: slope ${micFlat.slopeMbPerMinute.toFixed(2)} MB/min, ${micFlat.firstMb.toFixed(1)} → ${micFlat.lastMb.toFixed(1)} MB; NMI: slope ${nmiFlat.slopeMbPerMinute.toFixed(2)} MB/min, ${nmiFlat.firstMb.toFixed(1)} → ${nmiFlat.lastMb.toFixed(1)} MB; ${work}`);
        const micFigures = soakFigures('MIC', micSamples, micFlat, plan, `${work}; at the end: ${describeSplit(micSplit)}; ${describeRuntime(imageRuntime('mic'))}`);
        const nmiFigures = soakFigures('NMI', nmiSamples, nmiFlat, plan, `${work}; at the end: ${describeSplit(nmiSplit)}; ${describeRuntime(imageRuntime('nmi'))}`);
        micFigures[2] = { ...micFigures[2]!, details: { ...micFigures[2]!.details, split: splitRecord(micSplit) } };
        nmiFigures[2] = { ...nmiFigures[2]!, details: { ...nmiFigures[2]!.details, split: splitRecord(nmiSplit) } };
        return {
          parameters: { ...plan, sourceRoot: sourceRoot(), podsCreated: load.podsCreated, tokens: load.tokens },
          figures: [...micFigures, ...nmiFigures],
        };
      } finally {
        await nmi.stop();
      }
    } finally {
      await watcher.close();
      await world.stop();
    }
  },
};
