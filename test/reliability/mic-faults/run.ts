/**
 * The state one MIC fault run shares between its phases: the world, the two MIC replicas behind the
 * API proxy, what the cluster should converge to, the counts, and the helpers every phase uses
 * (identities, pods, convergence, the phase frame that measures recovery and ARM calls).
 * @module
 */
import { isStatus } from '../../../src/kube/raw-client.ts';
import type { RequestLogEntry } from '../../../src/sim/http/request-log.ts';
import { armRequests, lastRequestSeq, waitForHealth, type MicProcess, type MicWorld } from '../../support/mic-world.ts';
import type { CountsBuilder, Scale, ScenarioContext } from '../counts.ts';
import type { ApiProxy } from './api-proxy.ts';
import { armSummary, faultedByKind, isComputeWrite } from './arm-log.ts';
import { Expectation, podKey, type PodSpec } from './model.ts';

export interface Sizes {
  /** Pods each phase creates (spread over every node). */
  readonly pods: number;
  /** New identities each phase needs on the targets (so every phase makes ARM writes). */
  readonly identities: number;
  /** How long the 429 storm and the 500s last. */
  readonly stormMs: number;
  readonly retryAfterSeconds: number;
  readonly hangMs: number;
  readonly blackoutMs: number;
  /** Duration of the out-of-band operation MIC's write conflicts with. */
  readonly conflictLroMs: number;
  /** Operation duration while the leader is killed (writes in flight). */
  readonly killLroMs: number;
  /** The whole list of phases runs this many times. */
  readonly cycles: number;
}

export const SIZES: Record<Scale, Sizes> = {
  ci: { pods: 5, identities: 2, stormMs: 5_000, retryAfterSeconds: 2, hangMs: 3_000, blackoutMs: 3_000, conflictLroMs: 4_000, killLroMs: 3_000, cycles: 1 },
  // Full: the hang outlasts MIC's 30 s ARM request deadline.
  full: { pods: 30, identities: 4, stormMs: 15_000, retryAfterSeconds: 3, hangMs: 40_000, blackoutMs: 4_000, conflictLroMs: 6_000, killLroMs: 4_000, cycles: 3 },
};

/**
 * MIC's lease. A leader gives up after 0.75 × lease without the API server, and the harness's API
 * server restart takes 11–15 s (its graceful stop waits out 10 s while watches are open): 30 s
 * rides out 22.5 s. The killed leader's successor takes over within the lease.
 */
export const LEASE_SECONDS = 30;
export const LRO = { vm: 300, vmss: 600 };

/**
 * ARM calls one phase may cost (docs/mic.md "Faults"): 10, plus 10 per VM / scale set written (read,
 * write, polls, a retry), plus 3 per faulted answer (the retry it earns and its read). Independent of
 * the number of pods.
 */
export function armBound(targets: number, faulted: number): number {
  return 10 + 10 * targets + 3 * faulted;
}

export class FaultRun {
  readonly world: MicWorld;
  readonly expect: Expectation;
  readonly counts: CountsBuilder;
  readonly sizes: Sizes;
  readonly context: ScenarioContext;
  readonly proxy: ApiProxy;
  readonly kubeconfig: string;
  /** MIC replicas still expected to run, with the pid each started with. */
  readonly mics: { mic: MicProcess; pid: number | undefined }[] = [];
  /** Fault rule ID → its Retry-After in ms (for the window check). */
  readonly retryAfter = new Map<string, number>();
  readonly armByPhase: string[] = [];
  cycle = 0;
  private micSerial = 0;

  constructor(init: { world: MicWorld; counts: CountsBuilder; sizes: Sizes; context: ScenarioContext; proxy: ApiProxy; kubeconfig: string }) {
    this.world = init.world;
    this.counts = init.counts;
    this.sizes = init.sizes;
    this.context = init.context;
    this.proxy = init.proxy;
    this.kubeconfig = init.kubeconfig;
    this.expect = new Expectation(init.world);
  }

  get nodes(): string[] {
    return [...this.world.scaleSetNodes, ...this.world.vmNodes];
  }

  /** Starts one more MIC replica (debug logs, through the proxy, the long lease). */
  async startMic(): Promise<MicProcess> {
    const name = `mic-${String.fromCharCode(97 + this.micSerial++)}`;
    const mic = await this.world.startMic(name, ['--v=4', `--kubeconfig=${this.kubeconfig}`, `--leader-election-duration=${LEASE_SECONDS}s`]);
    this.mics.push({ mic, pid: mic.child.pid });
    return mic;
  }

  /** The replica answering Active (waits for one). */
  async leader(timeoutMs = 60_000): Promise<MicProcess> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const { mic } of this.mics) if ((await this.world.health(mic)) === 'Active') return mic;
      if (Date.now() > deadline) throw new Error(`no MIC became Active within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async waitStandby(mic: MicProcess): Promise<void> {
    await waitForHealth(this.world, mic, 'Not Active', 60_000);
  }

  /** Azure identities + AzureIdentity + binding (selector = name), in `namespace`. Returns their names. */
  async identities(namespace: string, prefix: string, count = this.sizes.identities): Promise<string[]> {
    const names: string[] = [];
    for (let index = 0; index < count; index++) {
      const name = `${prefix}-${this.cycle}-${index}`;
      const azure = await this.world.azureIdentity(name);
      await this.world.createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
      await this.world.createBinding(namespace, `${name}-binding`, name, name);
      names.push(name);
    }
    return names;
  }

  /** `count` pods over every node, identities round-robin; retried while the API server is away. */
  specs(namespace: string, prefix: string, identities: readonly string[], count = this.sizes.pods, nodes = this.nodes): PodSpec[] {
    return Array.from({ length: count }, (_, index) => ({
      namespace,
      name: `${prefix}-${this.cycle}-${index}`,
      node: nodes[index % nodes.length] ?? '',
      identity: identities[index % identities.length] ?? '',
    }));
  }

  async createPod(pod: PodSpec, deadlineMs = 60_000): Promise<void> {
    this.expect.add(pod);
    this.counts.attempts++;
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      try {
        await this.world.createPod(pod.namespace, pod.name, pod.node, pod.identity);
        return;
      } catch (error) {
        // A POST that landed before the API server went away is kept: finish it.
        if (isStatus(error, 409)) {
          await this.world.setPodPhase(pod.namespace, pod.name, 'Running').catch(() => undefined);
          return;
        }
        if (Date.now() > deadline) throw error;
        await sleep(200);
      }
    }
  }

  async deletePod(pod: PodSpec): Promise<void> {
    this.expect.remove(pod);
    await this.world.deletePod(pod.namespace, pod.name);
  }

  /** Polls until the cluster and Azure match the expectation; the ms it took, or the problems left. */
  async converge(timeoutMs: number): Promise<{ ok: boolean; ms: number; problems: string[] }> {
    const started = performance.now();
    let problems: string[] = ['not checked yet'];
    while (performance.now() - started < timeoutMs) {
      try {
        problems = this.expect.problems(await this.world.assignedIdentities());
        if (problems.length === 0) return { ok: true, ms: performance.now() - started, problems };
      } catch (error) {
        problems = [`listing AAIs failed: ${(error as Error).message}`];
      }
      await sleep(200);
    }
    return { ok: false, ms: performance.now() - started, problems };
  }

  /**
   * One fault episode: `inject` starts the faults and the work and resolves when the faults have
   * stopped (returning that moment as a performance.now() time, or undefined = now); then the
   * cluster must converge. Counts the fault, its recovery, the phase's pods and its ARM calls.
   */
  async phase(name: string, pods: () => PodSpec[], inject: () => Promise<number | undefined>, convergeTimeoutMs = 60_000): Promise<void> {
    const since = await lastRequestSeq(this.world);
    const label = `${name}#${this.cycle}`;
    this.context.log(`mic-faults: ${label} …`);
    this.counts.faults++;
    this.counts.count(`phase_${name}`);
    const stoppedAt = (await inject()) ?? performance.now();
    const result = await this.converge(convergeTimeoutMs);
    const recoverMs = performance.now() - stoppedAt;
    const mine = pods();
    const assigned = await this.world.assignedIdentities().catch(() => []);
    const ok = mine.filter((pod) => assigned.some((entry) => entry.spec.podNamespace === pod.namespace && entry.spec.pod === pod.name && entry.status?.status === this.expect.wantedState(pod)));
    this.counts.successes += ok.length;
    if (result.ok) this.counts.recovered(recoverMs);
    else {
      this.counts.breach(`${label}: not converged ${Math.round(result.ms)} ms after the faults stopped: ${result.problems.slice(0, 8).join('; ')}`);
      // What each replica was doing, for the reproduction.
      for (const { mic } of this.mics) this.context.log(`--- ${mic.name} (running: ${String(mic.child.exitCode === null && mic.child.signalCode === null)}), last lines:\n${mic.output().split('\n').slice(-40).join('\n')}`);
    }
    const entries = await armRequests(this.world, since);
    this.accountArm(label, entries);
    this.context.log(`mic-faults: ${label} ${result.ok ? `recovered in ${Math.round(recoverMs)} ms` : 'DID NOT CONVERGE'}; ${mine.length} pods, ${ok.length} in the wanted state`);
  }

  private accountArm(label: string, entries: readonly RequestLogEntry[]): void {
    const summary = armSummary(entries);
    const faulted = faultedByKind(entries);
    const faultedTotal = Object.values(faulted).reduce((sum, value) => sum + value, 0);
    const touched = new Set(entries.filter(isComputeWrite).map((entry) => entry.path.toLowerCase())).size;
    const bound = armBound(touched, faultedTotal);
    this.armByPhase.push(`${label}:${summary.calls}/${summary.writes}w/${bound}max`);
    if (summary.calls > bound) this.counts.breach(`${label}: ${summary.calls} ARM calls (${summary.writes} writes, ${summary.reads} reads, ${summary.polls} polls) exceed the bound ${bound} (10 + 10 × ${touched} VM/VMSS written + 3 × ${faultedTotal} faulted answers)`);
  }

  /** Output of every MIC since `offsets` (by name). */
  outputsSince(offsets: ReadonlyMap<string, number>): Map<string, string> {
    return new Map(this.mics.map(({ mic }) => [mic.name, mic.output().slice(offsets.get(mic.name) ?? 0)]));
  }

  offsets(): Map<string, number> {
    return new Map(this.mics.map(({ mic }) => [mic.name, mic.output().length]));
  }

  keyOf(pod: PodSpec): string {
    return podKey(pod);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
