import { describe, expect, it } from 'vitest';
import type { AzureIdentity, AzureIdentityBinding } from '../../../src/api/index.ts';
import type { MicInformers } from '../../../src/mic/informers.ts';
import { objectKey, type NodeInfo, type PodInfo } from '../../../src/mic/model.ts';
import { MicView, targetKeyForNode } from '../../../src/mic/view.ts';
import { binding, identity, pod, vmNode, vmssNode } from '../../support/mic-fixtures.ts';

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

function world(): { informers: MicInformers; pods: ReturnType<typeof fakeInformer<PodInfo>> } {
  const pods = fakeInformer<PodInfo>((entry) => objectKey(entry.namespace, entry.name));
  const nodes = fakeInformer<NodeInfo & { resourceVersion: string }>((entry) => entry.name, [
    { ...vmssNode('vmss-0'), resourceVersion: '1' },
    { ...vmNode('vm-0'), resourceVersion: '1' },
  ]);
  const identities = fakeInformer<AzureIdentity>((entry) => objectKey(entry.metadata.namespace ?? '', entry.metadata.name ?? ''), [identity('a')]);
  const bindings = fakeInformer<AzureIdentityBinding>((entry) => objectKey(entry.metadata.namespace ?? '', entry.metadata.name ?? ''), [binding('a-binding', 'a', 'a')]);
  const assigned = fakeInformer((entry: { metadata: { name?: string } }) => entry.metadata.name ?? '');
  const informers = { pods, nodes, identities, bindings, assigned, all: [] } as unknown as MicInformers;
  return { informers, pods };
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
});
