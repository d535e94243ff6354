/**
 * MIC's view of the cluster: the latest desired state computed from the informer caches, grouped by
 * target (the VM or scale set a node runs on). Events only mark the view dirty; `refresh()` recomputes
 * everything from the caches (level-triggered, O(pods)) and returns the targets whose inputs changed,
 * so each burst of events costs one recompute and at most one reconcile per affected target.
 * @module
 */
import { TARGET_ANNOTATION, type AzureAssignedIdentity } from '../api/index.ts';
import { parseTargetResourceId, targetKey, type ComputeTargetRef } from '../azure/provider-id.ts';
import { computeDesiredState } from './desired.ts';
import type { MicInformers } from './informers.ts';
import { objectKey, type DesiredAssignment, type DesiredState, type MicPolicy, type NodeInfo, type PodInfo } from './model.ts';

/** Key of the reconcile unit a node belongs to: its VM/VMSS, or the node itself when not on Azure. */
export function targetKeyForNode(nodeName: string, node: NodeInfo | undefined): string {
  return node?.compute === undefined ? `node:${nodeName}` : targetKey(node.compute);
}

/** What one target's reconcile works from. */
export interface TargetView {
  readonly key: string;
  /** The VM or scale set; undefined for nodes without an Azure providerID or nodes that are gone. */
  readonly target: ComputeTargetRef | undefined;
  /** Names of the nodes grouped here (several for a scale set). */
  readonly nodeNames: readonly string[];
  readonly desiredOnTarget: readonly DesiredAssignment[];
  readonly currentOnTarget: readonly AzureAssignedIdentity[];
  readonly desiredKeys: ReadonlySet<string>;
  /** Whether any of the nodes is missing from the node cache (then its AAIs are cleaned up without ARM calls). */
  readonly nodeMissing: boolean;
}

interface Grouped {
  target: ComputeTargetRef | undefined;
  nodeNames: Set<string>;
  desired: DesiredAssignment[];
  current: AzureAssignedIdentity[];
  nodeMissing: boolean;
}

export class MicView {
  private readonly informers: MicInformers;
  private readonly policy: MicPolicy;
  private desired: DesiredState = { assignments: new Map(), problems: [] };
  private desiredKeys: ReadonlySet<string> = new Set();
  private groups = new Map<string, Grouped>();
  private fingerprints = new Map<string, string>();
  /** Targets found changed by a recompute whose caller did not ask for them (see `refresh`). */
  private unreported = new Set<string>();
  private dirty = true;
  /** When each desired assignment was first seen (for the convergence-time metric). */
  private readonly firstSeen = new Map<string, number>();
  private readonly now: () => number;

  constructor(informers: MicInformers, policy: MicPolicy, now: () => number = Date.now) {
    this.informers = informers;
    this.policy = policy;
    this.now = now;
  }

  /** When the assignment `namespace/name` first became desired, if it still is. */
  firstSeenAt(key: string): number | undefined {
    return this.firstSeen.get(key);
  }

  markDirty(): void {
    this.dirty = true;
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  /**
   * Recomputes from the caches; returns the keys of targets whose inputs changed since the last
   * refresh, including changes found by the implicit recomputes of `targetView`/`desiredState`
   * (which must not swallow them: their caller looks at one target only).
   */
  refresh(): string[] {
    this.recompute();
    const changed = [...this.unreported];
    this.unreported.clear();
    return changed;
  }

  private recompute(): void {
    this.dirty = false;
    const nodes = new Map(this.informers.nodes.list().map((node) => [node.name, node]));
    this.desired = computeDesiredState(
      {
        pods: this.informers.pods.list(),
        nodes,
        identities: new Map(this.informers.identities.list().map((identity) => [objectKey(identity.metadata.namespace ?? '', identity.metadata.name ?? ''), identity])),
        bindings: this.informers.bindings.list(),
        assigned: new Map(),
      },
      this.policy,
    );
    this.desiredKeys = new Set(this.desired.assignments.keys());
    const now = this.now();
    for (const key of this.desiredKeys) if (!this.firstSeen.has(key)) this.firstSeen.set(key, now);
    for (const key of this.firstSeen.keys()) if (!this.desiredKeys.has(key)) this.firstSeen.delete(key);
    const groups = new Map<string, Grouped>();
    const groupFor = (nodeName: string, recordedTarget?: ComputeTargetRef): Grouped => {
      const node = nodes.get(nodeName);
      // A node that is gone (scale-in) is found through the target MIC recorded on its AAIs.
      const target = node?.compute ?? (node === undefined ? recordedTarget : undefined);
      const key = target === undefined ? targetKeyForNode(nodeName, node) : targetKey(target);
      let group = groups.get(key);
      if (group === undefined) {
        group = { target, nodeNames: new Set(), desired: [], current: [], nodeMissing: false };
        groups.set(key, group);
      }
      group.nodeNames.add(nodeName);
      if (node === undefined) group.nodeMissing = true;
      return group;
    };
    for (const assignment of this.desired.assignments.values()) {
      // A pod on a node not (or no longer) in the cache waits: the node's arrival triggers a refresh, and
      // a pod on a deleted node keeps its AAI (still desired) until it is gone.
      if (!nodes.has(assignment.nodeName)) continue;
      groupFor(assignment.nodeName).desired.push(assignment);
    }
    for (const assigned of this.informers.assigned.list()) {
      groupFor(assigned.spec.nodename, parseTargetResourceId(assigned.metadata.annotations?.[TARGET_ANNOTATION])).current.push(assigned);
    }
    this.groups = groups;

    const fingerprints = new Map<string, string>();
    for (const [key, group] of groups) {
      const fingerprint = fingerprintOf(group, this.desiredKeys);
      fingerprints.set(key, fingerprint);
      if (this.fingerprints.get(key) !== fingerprint) this.unreported.add(key);
    }
    this.fingerprints = fingerprints;
  }

  /** Every target key known now. */
  targetKeys(): string[] {
    return [...this.groups.keys()];
  }

  /** The view of one target (empty when nothing is desired or assigned there any more). */
  targetView(key: string): TargetView {
    if (this.dirty) this.recompute();
    const group = this.groups.get(key);
    return {
      key,
      target: group?.target,
      nodeNames: [...(group?.nodeNames ?? [])],
      desiredOnTarget: group?.desired ?? [],
      currentOnTarget: group?.current ?? [],
      desiredKeys: this.desiredKeys,
      nodeMissing: group?.nodeMissing ?? false,
    };
  }

  /** The latest desired state (for the readiness gate and diagnostics). */
  desiredState(): DesiredState {
    if (this.dirty) this.recompute();
    return this.desired;
  }

  /** Pods (from the cache) by `namespace/name`. */
  pod(key: string): PodInfo | undefined {
    return this.informers.pods.get(key);
  }
}

/**
 * What a target's reconcile depends on. Each current AAI carries whether it is still desired: after a
 * scale-in the pod on a deleted node leaves the group's desired list at once but stays desired until
 * it is deleted, and that deletion changes nothing else on the target.
 */
function fingerprintOf(group: Grouped, desiredKeys: ReadonlySet<string>): string {
  const desired = group.desired
    .map((entry) => `${entry.namespace}/${entry.name}@${entry.nodeName}:${entry.identity.metadata.resourceVersion ?? ''}:${entry.binding.metadata.resourceVersion ?? ''}`)
    .sort();
  const current = group.current
    .map((entry) => {
      const key = objectKey(entry.metadata.namespace ?? '', entry.metadata.name ?? '');
      return `${key}@${entry.metadata.resourceVersion ?? ''}${desiredKeys.has(key) ? '+' : '-'}`;
    })
    .sort();
  return `${group.target === undefined ? '-' : 'T'}|${group.nodeMissing ? 'M' : ''}|${desired.join(',')}|${current.join(',')}`;
}
