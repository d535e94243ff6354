import { describe, expect, it } from 'vitest';
import { TARGET_ANNOTATION, type AzureAssignedIdentity, type AzureIdentity, type AzureIdentityBinding } from '../../../src/api/index.ts';
import type { MicInformers } from '../../../src/mic/informers.ts';
import { objectKey, type NodeInfo, type PodInfo } from '../../../src/mic/model.ts';
import { MicView, targetKeyForNode } from '../../../src/mic/view.ts';
import { targetResourceId } from '../../../src/azure/provider-id.ts';
import { assignedFrom, binding, identity, pod, vmNode, vmssNode } from '../../support/mic-fixtures.ts';

/** Just enough of an informer for the view: a mutable list. */
function fakeInformer<T>(keyOf: (item: T) => string, items: T[] = []): { items: T[]; list(): T[]; get(key: string): T | undefined } {
  return {
    items,
    list() {
      return [...this.items];
    },
    get(key) {
      return this.items.find((item) => keyOf(item) === key);
    },
  };
}

function world(): {
  informers: MicInformers;
  pods: ReturnType<typeof fakeInformer<PodInfo>>;
  nodes: ReturnType<typeof fakeInformer<NodeInfo & { resourceVersion: string }>>;
  assigned: ReturnType<typeof fakeInformer<AzureAssignedIdentity>>;
} {
  const pods = fakeInformer<PodInfo>((entry) => objectKey(entry.namespace, entry.name));
  const nodes = fakeInformer<NodeInfo & { resourceVersion: string }>((entry) => entry.name, [
    { ...vmssNode('vmss-0'), resourceVersion: '1' },
    { ...vmNode('vm-0'), resourceVersion: '1' },
  ]);
  const identities = fakeInformer<AzureIdentity>((entry) => objectKey(entry.metadata.namespace ?? '', entry.metadata.name ?? ''), [identity('a')]);
  const bindings = fakeInformer<AzureIdentityBinding>((entry) => objectKey(entry.metadata.namespace ?? '', entry.metadata.name ?? ''), [binding('a-binding', 'a', 'a')]);
  const assigned = fakeInformer<AzureAssignedIdentity>((entry) => entry.metadata.name ?? '');
  const informers = { pods, nodes, identities, bindings, assigned, all: [] } as unknown as MicInformers;
  return { informers, pods, nodes, assigned };
}

describe('MicView', () => {
  it('reports a target as changed once, whether the change was found by refresh or by an implicit recompute', () => {
    const { informers, pods } = world();
    const view = new MicView(informers, { forceNamespaced: false });
    const vmssKey = targetKeyForNode('vmss-0', vmssNode('vmss-0'));
    const vmKey = targetKeyForNode('vm-0', vmNode('vm-0'));
    pods.items.push(pod('p1', { node: 'vmss-0', label: 'a' }), pod('p2', { node: 'vm-0', label: 'a' }));
    expect(view.refresh().sort()).toEqual([vmKey, vmssKey].sort());
    expect(view.refresh()).toEqual([]);

    // A reconcile of the scale set reads its view while an event about the VM is pending: the VM's
    // change must still come out of the next refresh (it used to be swallowed, leaving the VM unreconciled).
    pods.items.push(pod('p3', { node: 'vm-0', label: 'a' }));
    view.markDirty();
    expect(view.targetView(vmssKey).desiredOnTarget.map((entry) => entry.podName)).toEqual(['p1']);
    expect(view.refresh()).toEqual([vmKey]);
    expect(view.refresh()).toEqual([]);

    // The same through desiredState() (the readiness gate's path).
    pods.items.push(pod('p4', { node: 'vmss-0', label: 'a' }));
    view.markDirty();
    expect(view.desiredState().assignments.size).toBe(4);
    expect(view.refresh()).toEqual([vmssKey]);
  });

  it('reports the target of a deleted node again when the pod on it goes, so its AAI is cleaned up', () => {
    // Scale-in: the node goes first, its pod later (pod GC). The pod's AAI stays desired while the pod
    // exists; once the pod goes, nothing on the target changed but the AAI's desiredness — the target
    // must still be reported, or the AAI and the identity on the scale set stay until the next resync.
    const { informers, pods, nodes, assigned } = world();
    const view = new MicView(informers, { forceNamespaced: false });
    const vmssKey = targetKeyForNode('vmss-0', vmssNode('vmss-0'));
    pods.items.push(pod('p1', { node: 'vmss-0', label: 'a' }));
    view.refresh();
    const [desired] = view.desiredState().assignments.values();
    const recorded = assignedFrom(desired!, 'Assigned', { [TARGET_ANNOTATION]: targetResourceId(vmssNode('vmss-0').compute!) });
    assigned.items.push({ ...recorded, metadata: { ...recorded.metadata, resourceVersion: '7' } });
    view.markDirty();
    expect(view.refresh()).toEqual([vmssKey]);

    nodes.items.splice(0, 1);
    view.markDirty();
    expect(view.refresh()).toEqual([vmssKey]);
    expect(view.targetView(vmssKey).nodeMissing).toBe(true);

    pods.items.splice(0, 1);
    view.markDirty();
    expect(view.refresh()).toEqual([vmssKey]);
    expect(view.targetView(vmssKey).desiredKeys.has(objectKey(desired!.namespace, desired!.name))).toBe(false);
  });
});
