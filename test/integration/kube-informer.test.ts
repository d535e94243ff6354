import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Informer, type InformerEvent } from '../../src/kube/informer.ts';
import { rawLister, rawRequest } from '../../src/kube/raw-client.ts';
import { startControlPlane, type ControlPlane } from '../../src/devenv/control-plane.ts';
import { controlPlane, kubeConfig, uniqueNamespace } from '../harness/context.ts';

// The informer against a real API server: pagination, projection, events, and recovery from what
// production does to watches — expiry (410 Gone after etcd compaction) and an API server restart.

interface SlimConfigMap {
  key: string;
  name: string;
  resourceVersion: string;
  value: string | undefined;
}

function configMapInformer(kc: KubeConfig, namespace: string, pageSize = 500): Informer<SlimConfigMap> {
  const path = `/api/v1/namespaces/${namespace}/configmaps`;
  return new Informer<SlimConfigMap>({
    name: 'configmaps',
    kubeConfig: kc,
    source: { path, list: rawLister(kc, path) },
    project: (raw) => {
      const object = raw as { metadata: { name: string; namespace: string; resourceVersion: string; labels?: Record<string, string> }; data?: Record<string, string> };
      if (object.metadata.labels?.['skip'] === 'true') return undefined;
      return { key: `${object.metadata.namespace}/${object.metadata.name}`, name: object.metadata.name, resourceVersion: object.metadata.resourceVersion, value: object.data?.['value'] };
    },
    keyOf: (object) => object.key,
    resourceVersionOf: (object) => object.resourceVersion,
    logger: pino({ level: process.env['INFORMER_DEBUG'] === '1' ? 'debug' : 'silent' }),
    pageSize,
    backoff: { baseMs: 100, maxMs: 1000, jitter: 0 },
  });
}

async function createConfigMap(kc: KubeConfig, namespace: string, name: string, value: string, labels: Record<string, string> = {}): Promise<void> {
  await rawRequest(kc, { method: 'POST', path: `/api/v1/namespaces/${namespace}/configmaps`, body: { metadata: { name, labels }, data: { value } } });
}

describe('Informer on the shared control plane', () => {
  it('lists in pages, projects, drops unreadable objects, and reports add/update/delete', async () => {
    const kc = kubeConfig();
    const namespace = await uniqueNamespace('informer');
    for (let index = 0; index < 23; index++) await createConfigMap(kc, namespace, `cm-${index}`, String(index));
    await createConfigMap(kc, namespace, 'skipped', 'x', { skip: 'true' });

    const informer = configMapInformer(kc, namespace, 5);
    const events: [InformerEvent, string][] = [];
    informer.onChange((event, object) => events.push([event, object.name]));
    const controller = new AbortController();
    const running = informer.run(controller.signal);
    try {
      await informer.waitForSync();
      expect(informer.size).toBe(23);
      expect(informer.get(`${namespace}/cm-7`)?.value).toBe('7');
      expect(informer.get(`${namespace}/skipped`)).toBeUndefined();

      await createConfigMap(kc, namespace, 'late', 'new');
      await rawRequest(kc, {
        method: 'PATCH',
        path: `/api/v1/namespaces/${namespace}/configmaps/cm-1`,
        contentType: 'application/merge-patch+json',
        body: { data: { value: 'changed' } },
      });
      await rawRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${namespace}/configmaps/cm-2` });
      await vi.waitFor(() => {
        expect(events).toContainEqual(['add', 'late']);
        expect(events).toContainEqual(['update', 'cm-1']);
        expect(events).toContainEqual(['delete', 'cm-2']);
      });
      expect(informer.get(`${namespace}/cm-1`)?.value).toBe('changed');
      expect(informer.size).toBe(23);
    } finally {
      controller.abort();
      await running;
    }
  });
});

describe('Informer recovery (own control plane)', () => {
  let plane: ControlPlane;
  let kc: KubeConfig;

  beforeAll(async () => {
    // Compact etcd every second and bypass the watch cache, so a watch from an old resourceVersion
    // fails with 410 Gone as it does in production after a long disconnect.
    plane = await startControlPlane({
      binDir: controlPlane().binDir,
      extraApiServerArgs: ['--etcd-compaction-interval=1s', '--watch-cache=false'],
    });
    kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfigPath);
  }, 120_000);

  afterAll(async () => {
    await plane.stop();
  });

  it('relists after its watch expired (410 Gone) and reports what changed meanwhile', async () => {
    await rawRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: 'expiry' } } });
    await createConfigMap(kc, 'expiry', 'stays', 'a');
    await createConfigMap(kc, 'expiry', 'goes', 'b');
    const informer = configMapInformer(kc, 'expiry');
    const events: [InformerEvent, string][] = [];
    informer.onChange((event, object) => events.push([event, object.name]));

    const first = new AbortController();
    const firstRun = informer.run(first.signal);
    await informer.waitForSync();
    first.abort();
    await firstRun;
    expect(informer.relists).toBe(1);

    // While nobody watches: changes, then enough time for etcd to compact past our resourceVersion.
    await rawRequest(kc, { method: 'DELETE', path: '/api/v1/namespaces/expiry/configmaps/goes' });
    await createConfigMap(kc, 'expiry', 'arrived', 'c');
    for (let index = 0; index < 5; index++) await createConfigMap(kc, 'expiry', `churn-${index}`, 'x');
    await new Promise((resolve) => setTimeout(resolve, 3500));

    const second = new AbortController();
    const secondRun = informer.run(second.signal);
    try {
      await vi.waitFor(() => {
        expect(informer.relists).toBeGreaterThanOrEqual(2);
        expect(informer.get('expiry/arrived')?.value).toBe('c');
      }, { timeout: 15_000 });
      expect(informer.get('expiry/goes')).toBeUndefined();
      expect(events).toContainEqual(['delete', 'goes']);
      expect(events).toContainEqual(['add', 'arrived']);
    } finally {
      second.abort();
      await secondRun;
    }
  });

  it('keeps working across an API server restart without being restarted itself', async () => {
    await rawRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: 'restart' } } });
    await createConfigMap(kc, 'restart', 'before', '1');
    const informer = configMapInformer(kc, 'restart');
    const controller = new AbortController();
    const running = informer.run(controller.signal);
    try {
      await informer.waitForSync();
      expect(informer.size).toBe(1);
      await plane.restartApiServer();
      await createConfigMap(kc, 'restart', 'after', '2');
      await vi.waitFor(() => {
        expect(informer.get('restart/after')?.value).toBe('2');
      }, { timeout: 30_000, interval: 200 });
      expect(informer.get('restart/before')?.value).toBe('1');
    } finally {
      controller.abort();
      await running;
    }
  });
});
