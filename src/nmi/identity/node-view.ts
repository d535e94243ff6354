/**
 * What NMI knows of the cluster, read from its informers and kept indexed for the request path: pods
 * by address, AzureAssignedIdentities by pod, exceptions, bindings and identities by namespace. It
 * also turns informer events into the two signals the rest needs: "this pod's assignment changed"
 * (wakes waiting requests) and "this identity changed" (drops its cached tokens).
 * @module
 */
import type { AzureAssignedIdentity, AzureIdentity, AzureIdentityBinding, AzurePodIdentityException } from '../../api/index.ts';
import type { Informer } from '../../kube/informer.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import type { NmiInformers } from './informers.ts';
import { PodAddressIndex, type NodePod, type PodMatch } from './pods.ts';

/** An identity as the token cache knows it: by namespace/name, and its client ID. */
export interface IdentityRef {
  readonly namespace: string;
  readonly name: string;
  readonly clientId: string | undefined;
}

export interface NodeViewListeners {
  /** The AAIs of pod `namespace/name` changed. */
  readonly onAssignmentChange?: (namespace: string, name: string) => void;
  /** An identity changed or went away (from an AAI, a binding or the identity itself). */
  readonly onIdentityChange?: (identity: IdentityRef) => void;
  /** A pod left the node or changed address. */
  readonly onPodGone?: (pod: NodePod) => void;
  /** A pod now has address `ip` (requests from it may be waiting for the cache). */
  readonly onPodAddress?: (ip: string) => void;
  /** A binding, identity or exception of `namespace` was added, changed or deleted. */
  readonly onNamespaceObjectsChange?: (namespace: string) => void;
}

const refOf = (identity: AzureIdentity): IdentityRef => ({ namespace: identity.metadata.namespace ?? '', name: identity.metadata.name ?? '', clientId: identity.spec.clientID });

/** Whether an AAI's embedded identity now names another Azure identity (or another kind of one). */
function identityChanged(before: AzureIdentity, after: AzureIdentity | undefined): boolean {
  if (after === undefined) return true;
  const a = before.spec;
  const b = after.spec;
  const same = (x: string | undefined, y: string | undefined): boolean => (x ?? '').toLowerCase() === (y ?? '').toLowerCase();
  return a.type !== b.type || !same(a.clientID, b.clientID) || !same(a.resourceID, b.resourceID) || !same(a.tenantID, b.tenantID);
}

/**
 * Groups objects by a key, kept up to date from informer events. A group is read as one frozen array,
 * built on the first read after a change: the token path reads a pod's groups on every request.
 */
export class GroupIndex<T> {
  private readonly groups = new Map<string, Map<string, T>>();
  /** Each group's array, until the group next changes; never for an empty group (no key kept for it). */
  private readonly snapshots = new Map<string, readonly T[]>();
  private readonly groupOf: (object: T) => string;
  private readonly keyOf: (object: T) => string;

  constructor(groupOf: (object: T) => string, keyOf: (object: T) => string) {
    this.groupOf = groupOf;
    this.keyOf = keyOf;
  }

  apply(event: 'add' | 'update' | 'delete', object: T, old: T | undefined): void {
    if (old !== undefined) this.remove(this.groupOf(old), this.keyOf(old));
    if (event === 'delete') {
      this.remove(this.groupOf(object), this.keyOf(object));
      return;
    }
    const name = this.groupOf(object);
    let group = this.groups.get(name);
    if (group === undefined) {
      group = new Map();
      this.groups.set(name, group);
    }
    group.set(this.keyOf(object), object);
    this.snapshots.delete(name);
  }

  get(name: string): readonly T[] {
    let snapshot = this.snapshots.get(name);
    if (snapshot === undefined) {
      const group = this.groups.get(name);
      if (group === undefined) return NONE;
      snapshot = Object.freeze([...group.values()]);
      this.snapshots.set(name, snapshot);
    }
    return snapshot;
  }

  private remove(name: string, key: string): void {
    const group = this.groups.get(name);
    if (group === undefined) return;
    group.delete(key);
    this.snapshots.delete(name);
    if (group.size === 0) this.groups.delete(name);
  }
}

const NONE: readonly never[] = Object.freeze([]);

const metaKey = (object: { metadata: { namespace?: string; name?: string } }): string => `${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;
const namespaceOf = (object: { metadata: { namespace?: string } }): string => object.metadata.namespace ?? '';

export class NodeView {
  private readonly informers: NmiInformers;
  private readonly podsByAddress = new PodAddressIndex();
  private readonly assignedByPod = new GroupIndex<AzureAssignedIdentity>((aai) => `${aai.spec.podNamespace}/${aai.spec.pod}`, metaKey);
  private readonly exceptionsByNamespace = new GroupIndex<AzurePodIdentityException>(namespaceOf, metaKey);
  private readonly bindingsByNamespace = new GroupIndex<AzureIdentityBinding>(namespaceOf, metaKey);
  private readonly identitiesByNamespace = new GroupIndex<AzureIdentity>(namespaceOf, metaKey);
  /** When pods that came through a watch (not the first list) were first seen, by uid. */
  private readonly arrivals = new Map<string, number>();

  constructor(informers: NmiInformers, listeners: NodeViewListeners = {}, clock: Pick<Clock, 'now'> = systemClock) {
    this.informers = informers;
    informers.pods.onChange((event, pod, old) => {
      this.podsByAddress.apply(event, pod, old);
      if (event === 'delete') this.arrivals.delete(pod.uid);
      else if (event === 'add' && informers.pods.hasSynced) this.arrivals.set(pod.uid, clock.now());
      if (event === 'delete' || (old !== undefined && old.ips.join() !== pod.ips.join())) listeners.onPodGone?.(old ?? pod);
      if (event !== 'delete') for (const ip of pod.ips) listeners.onPodAddress?.(ip);
    });
    informers.assigned?.onChange((event, aai, old) => {
      this.assignedByPod.apply(event, aai, old);
      listeners.onAssignmentChange?.(aai.spec.podNamespace, aai.spec.pod);
      // Status changes (Created → Assigned) leave tokens valid; a changed identity or the last
      // assignment of an identity on this node going away drops them.
      const before = (old ?? aai).spec.azureIdentityRef;
      if (before === undefined || event === 'add') return;
      const changed = event === 'update' && identityChanged(before, aai.spec.azureIdentityRef);
      const gone = event === 'delete' && !this.stillAssigned(before);
      if (changed || gone) listeners.onIdentityChange?.(refOf(before));
    });
    informers.exceptions.onChange((event, exception, old) => {
      this.exceptionsByNamespace.apply(event, exception, old);
      listeners.onNamespaceObjectsChange?.(namespaceOf(exception));
    });
    informers.bindings?.onChange((event, binding, old) => {
      this.bindingsByNamespace.apply(event, binding, old);
      listeners.onNamespaceObjectsChange?.(namespaceOf(binding));
      if (event !== 'add') {
        const before = old ?? binding;
        const namespace = before.metadata.namespace ?? '';
        for (const identity of this.identitiesByNamespace.get(namespace)) {
          if (identity.metadata.name === before.spec.azureIdentity) listeners.onIdentityChange?.(refOf(identity));
        }
      }
    });
    informers.identities?.onChange((event, identity, old) => {
      this.identitiesByNamespace.apply(event, identity, old);
      listeners.onNamespaceObjectsChange?.(namespaceOf(identity));
      if (event !== 'add') listeners.onIdentityChange?.(refOf(old ?? identity));
    });
  }

  /** Whether any AAI of this node still refers to `identity` (by namespace and name). */
  private stillAssigned(identity: AzureIdentity): boolean {
    return (this.informers.assigned?.list() ?? []).some(
      (aai) => aai.spec.azureIdentityRef?.metadata.namespace === identity.metadata.namespace && aai.spec.azureIdentityRef?.metadata.name === identity.metadata.name,
    );
  }

  get synced(): boolean {
    return this.informers.all.every((informer: Informer<unknown>) => informer.hasSynced);
  }

  podByAddress(ip: string): PodMatch {
    return this.podsByAddress.lookup(ip);
  }

  /** A pod of this node by namespace and name (for /host/token). */
  pod(namespace: string, name: string): NodePod | undefined {
    return this.informers.pods.get(`${namespace}/${name}`);
  }

  /**
   * When this NMI first saw pod `uid` through its watch; undefined for pods of the first list (every
   * informer had synced before NMI served, so the view held their bindings too).
   */
  arrivedAt(uid: string): number | undefined {
    return this.arrivals.get(uid);
  }

  assignedTo(namespace: string, name: string): readonly AzureAssignedIdentity[] {
    return this.assignedByPod.get(`${namespace}/${name}`);
  }

  exceptionsIn(namespace: string): readonly AzurePodIdentityException[] {
    return this.exceptionsByNamespace.get(namespace);
  }

  bindingsIn(namespace: string): readonly AzureIdentityBinding[] {
    return this.bindingsByNamespace.get(namespace);
  }

  identitiesIn(namespace: string): readonly AzureIdentity[] {
    return this.identitiesByNamespace.get(namespace);
  }
}
