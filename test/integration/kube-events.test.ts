import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EventRecorder } from '../../src/kube/events.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { kubeConfig, kubectl, uniqueNamespace } from '../harness/context.ts';

describe('EventRecorder', () => {
  it('writes core/v1 Events that kubectl shows, aggregates repeats, and never throws', async () => {
    const namespace = await uniqueNamespace('events');
    const recorder = new EventRecorder({ kubeConfig: kubeConfig(), component: 'aadpodidentity.k8s.io', instance: 'mic-test', logger: pino({ level: 'silent' }) });
    const target = { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', namespace, name: 'storage-reader-binding' };

    await recorder.record(target, 'Normal', 'binding applied', 'Binding storage-reader-binding applied on node n1 for pod demo-default-storage-reader');
    await recorder.record(target, 'Warning', 'binding apply error', 'failed to assign identity to VMSS pool1: 429');
    await recorder.record(target, 'Warning', 'binding apply error', 'failed to assign identity to VMSS pool1: 429');

    const list = (await rawRequest(kubeConfig(), { method: 'GET', path: `/api/v1/namespaces/${namespace}/events` })) as {
      items: { reason: string; type: string; count: number; source: { component: string }; involvedObject: { kind: string; name: string } }[];
    };
    expect(list.items).toHaveLength(2);
    const warning = list.items.find((event) => event.reason === 'binding apply error');
    expect(warning).toMatchObject({ type: 'Warning', count: 2, source: { component: 'aadpodidentity.k8s.io' }, involvedObject: { kind: 'AzureIdentityBinding', name: 'storage-reader-binding' } });

    const shown = await kubectl(['get', 'events', '-n', namespace]);
    expect(shown.stdout).toContain('binding applied');

    // A namespace that does not exist: the write fails, the recorder does not.
    await expect(recorder.record({ ...target, namespace: 'does-not-exist' }, 'Normal', 'binding removed', 'x')).resolves.toBeUndefined();
  });
});
