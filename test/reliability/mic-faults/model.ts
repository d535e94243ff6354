/**
 * What the MIC fault suite expects the cluster and Azure to look like, and the checks against it:
 * every live pod has exactly one AAI per identity in the expected state, no AAI outlives its pod, and
 * each VM / scale set carries exactly the identities its pods need (plus identities MIC does not own).
 * @module
 */
import type { AzureAssignedIdentity } from '../../../src/api/index.ts';
import { identityResourceId, NODE_GROUP, SUBSCRIPTION, type MicWorld } from '../../support/mic-world.ts';

export interface PodSpec {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  /** AzureIdentity name = binding selector = Azure identity name. */
  readonly identity: string;
}

export const podKey = (pod: { namespace: string; name: string }): string => `${pod.namespace}/${pod.name}`;

/** The live pods and what each one's AAI should say. */
export class Expectation {
  readonly pods = new Map<string, PodSpec>();
  /** Pods (keys) whose AAI must stay `Created`: their identity was deleted in Azure and is not back yet. */
  readonly refused = new Set<string>();
  /** Lower-cased identity IDs MIC does not own (added out of band): allowed on targets, never required. */
  readonly foreign = new Set<string>();
  /** Lower-cased identity IDs that may dangle on targets (deleted in Azure while assigned). */
  readonly dangling = new Set<string>();
  private readonly world: MicWorld;

  constructor(world: MicWorld) {
    this.world = world;
  }

  add(pod: PodSpec): void {
    this.pods.set(podKey(pod), pod);
  }

  remove(pod: PodSpec): void {
    this.pods.delete(podKey(pod));
  }

  /** ARM ID of the VM or scale set behind a node. */
  targetOf(node: string): string {
    if (this.world.scaleSetNodes.includes(node)) return this.world.scaleSet.id.toLowerCase();
    return `/subscriptions/${SUBSCRIPTION}/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachines/${node}`.toLowerCase();
  }

  targets(): string[] {
    return [...new Set([...this.world.scaleSetNodes, ...this.world.vmNodes].map((node) => this.targetOf(node)))];
  }

  wantedState(pod: PodSpec): string {
    return this.refused.has(podKey(pod)) ? 'Created' : 'Assigned';
  }

  /** Lower-cased identity IDs on a target, from the simulator's store. */
  onTarget(target: string): string[] {
    const resource = this.world.sim.store.getCompute(target);
    return (resource?.identity.userAssignedIdentities ?? []).map((id) => id.toLowerCase());
  }

  /** Everything that differs from the expectation; empty when converged. */
  problems(assigned: readonly AzureAssignedIdentity[]): string[] {
    const problems: string[] = [];
    const byPod = new Map<string, AzureAssignedIdentity[]>();
    for (const entry of assigned) {
      const key = `${entry.spec.podNamespace}/${entry.spec.pod}`;
      byPod.set(key, [...(byPod.get(key) ?? []), entry]);
    }
    for (const [key, pod] of this.pods) {
      const mine = (byPod.get(key) ?? []).filter((entry) => entry.spec.azureIdentityRef?.metadata.name === pod.identity);
      if (mine.length !== 1) problems.push(`${key}: ${mine.length} AAIs for identity ${pod.identity}`);
      const state = mine[0]?.status?.status;
      if (mine.length === 1 && state !== this.wantedState(pod)) problems.push(`${key}: AAI ${state ?? '(none)'}, want ${this.wantedState(pod)}`);
    }
    for (const [key, entries] of byPod) if (!this.pods.has(key)) problems.push(`${key}: ${entries.length} AAI(s) left for a deleted pod`);
    for (const target of this.targets()) {
      const needed = new Set([...this.pods.values()].filter((pod) => this.targetOf(pod.node) === target && !this.refused.has(podKey(pod))).map((pod) => identityResourceId(pod.identity).toLowerCase()));
      const actual = new Set(this.onTarget(target));
      const short = target.split('/').at(-1) ?? target;
      for (const id of needed) if (!actual.has(id)) problems.push(`${short}: missing ${id.split('/').at(-1) ?? id}`);
      for (const id of actual) if (!needed.has(id) && !this.foreign.has(id) && !this.dangling.has(id)) problems.push(`${short}: extra ${id.split('/').at(-1) ?? id}`);
    }
    return problems;
  }
}

/**
 * Watches for lost assignments while faults run: a (pod, identity) once `Assigned` whose AAI later
 * reads anything else while the pod lives, or whose identity leaves the pod's VM / scale set.
 */
export class LossMonitor {
  private readonly everAssigned = new Set<string>();
  readonly losses: string[] = [];
  samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly world: MicWorld;
  private readonly expect: Expectation;

  constructor(world: MicWorld, expect: Expectation) {
    this.world = world;
    this.expect = expect;
  }

  start(intervalMs: number): void {
    const tick = (): void => {
      this.running = this.sample().finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, intervalMs);
      });
    };
    this.timer = setTimeout(tick, intervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async sample(): Promise<void> {
    let assigned: AzureAssignedIdentity[];
    try {
      assigned = await this.world.assignedIdentities();
    } catch {
      return; // the API server is away (restart phase): nothing to learn
    }
    this.samples++;
    const now = new Date().toISOString();
    const live = new Set<string>();
    for (const entry of assigned) {
      const key = `${entry.spec.podNamespace}/${entry.spec.pod}|${entry.spec.azureIdentityRef?.metadata.name ?? ''}`;
      const pod = this.expect.pods.get(`${entry.spec.podNamespace}/${entry.spec.pod}`);
      if (pod === undefined) continue;
      if (entry.status?.status === 'Assigned') {
        live.add(key);
        this.everAssigned.add(key);
        if (!this.expect.refused.has(podKey(pod)) && !this.expect.onTarget(this.expect.targetOf(pod.node)).includes(identityResourceId(pod.identity).toLowerCase())) {
          this.losses.push(`${now}: ${key} Assigned but ${pod.identity} is not on ${this.expect.targetOf(pod.node).split('/').at(-1) ?? ''}`);
        }
      }
    }
    for (const key of this.everAssigned) {
      const [podPart] = key.split('|');
      if (podPart === undefined || !this.expect.pods.has(podPart)) {
        this.everAssigned.delete(key);
        continue;
      }
      if (!live.has(key)) {
        this.losses.push(`${now}: ${key} was Assigned and no longer is while its pod lives`);
        this.everAssigned.delete(key);
      }
    }
  }
}
