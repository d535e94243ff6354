import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { leaderLock } from '../../../src/kube/leader-locks.ts';
import { LEADER_ANNOTATION, observeEndpointsAnnotation, type LeaderElectionRecord } from '../../../src/kube/leader-record.ts';

// The endpointsleases lock's writes against a small fake API server with optimistic concurrency
// (PUT needs the stored resourceVersion, POST of an existing object is 409): the Endpoints is written
// first, a conflict on either object ends the round, and a release only empties what names us.

interface StoredObject {
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

interface FakeApi {
  readonly kubeConfig: KubeConfig;
  readonly objects: Map<string, StoredObject>;
  /** Method and path of every write, in order. */
  readonly writes: string[];
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

async function fakeApi(): Promise<FakeApi> {
  const objects = new Map<string, StoredObject>();
  const writes: string[] = [];
  let version = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    request.on('end', () => {
      const send = (status: number, object: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(object));
      };
      const url = request.url ?? '';
      if (request.method === 'GET') {
        const stored = objects.get(url);
        if (stored === undefined) send(404, { kind: 'Status', reason: 'NotFound', message: 'not found' });
        else send(200, stored);
        return;
      }
      writes.push(`${request.method} ${url}`);
      const object = JSON.parse(body) as StoredObject;
      const key = request.method === 'POST' ? `${url}/${object.metadata.name}` : url;
      const stored = objects.get(key);
      if (request.method === 'POST' ? stored !== undefined : stored?.metadata.resourceVersion !== object.metadata.resourceVersion) {
        send(409, { kind: 'Status', reason: request.method === 'POST' ? 'AlreadyExists' : 'Conflict', message: 'conflict' });
        return;
      }
      const saved = { ...object, metadata: { ...object.metadata, resourceVersion: String(++version) } };
      objects.set(key, saved);
      send(request.method === 'POST' ? 201 : 200, saved);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  return { kubeConfig, objects, writes, close: () => new Promise((resolve) => { server.close(() => { resolve(); }); }) };
}

const ENDPOINTS = '/api/v1/namespaces/default/endpoints/aad-pod-identity-mic';
const LEASE = '/apis/coordination.k8s.io/v1/namespaces/default/leases/aad-pod-identity-mic';
const T0 = Date.parse('2026-12-05T10:00:00Z');

function ours(fields: Partial<LeaderElectionRecord> = {}): LeaderElectionRecord {
  return { holderIdentity: 'ours', leaseDurationSeconds: 15, acquireTime: T0, renewTime: T0, leaderTransitions: 1, ...fields };
}

function endpointsHolder(api: FakeApi): string | undefined {
  return observeEndpointsAnnotation(api.objects.get(ENDPOINTS)?.metadata.annotations?.[LEADER_ANNOTATION]).record.holderIdentity;
}

describe('endpointsleases lock writes', () => {
  it('creates the Endpoints first, then the Lease, both with the same record', async () => {
    const api = await fakeApi();
    const lock = leaderLock('endpointsleases', { kubeConfig: api.kubeConfig, namespace: 'default', name: 'aad-pod-identity-mic' });
    const snapshot = await lock.read(AbortSignal.timeout(5_000));
    expect(snapshot.current).toBeUndefined();
    expect(await lock.write(ours(), snapshot, AbortSignal.timeout(5_000))).toBe(true);
    expect(api.writes).toEqual(['POST /api/v1/namespaces/default/endpoints', 'POST /apis/coordination.k8s.io/v1/namespaces/default/leases']);
    expect(endpointsHolder(api)).toBe('ours');
    expect(api.objects.get(LEASE)?.spec).toMatchObject({ holderIdentity: 'ours', leaseDurationSeconds: 15, leaseTransitions: 1 });
    expect((await lock.read(AbortSignal.timeout(5_000))).current?.record.holderIdentity).toBe('ours');
  });

  it('a conflict on the Endpoints ends the round before the Lease is touched', async () => {
    const api = await fakeApi();
    const lock = leaderLock('endpointsleases', { kubeConfig: api.kubeConfig, namespace: 'default', name: 'aad-pod-identity-mic' });
    await lock.write(ours(), await lock.read(AbortSignal.timeout(5_000)), AbortSignal.timeout(5_000));
    const stale = await lock.read(AbortSignal.timeout(5_000));
    // An upstream MIC renews the Endpoints in between.
    await lock.write(ours(), await lock.read(AbortSignal.timeout(5_000)), AbortSignal.timeout(5_000));
    api.writes.length = 0;
    expect(await lock.write(ours({ renewTime: T0 + 5_000 }), stale, AbortSignal.timeout(5_000))).toBe(false);
    expect(api.writes).toEqual([`PUT ${ENDPOINTS}`]);
  });

  it('a Lease changed since the read is not overwritten (client-go would re-read and overwrite it)', async () => {
    const api = await fakeApi();
    const lock = leaderLock('endpointsleases', { kubeConfig: api.kubeConfig, namespace: 'default', name: 'aad-pod-identity-mic' });
    const leases = leaderLock('leases', { kubeConfig: api.kubeConfig, namespace: 'default', name: 'aad-pod-identity-mic' });
    await lock.write(ours(), await lock.read(AbortSignal.timeout(5_000)), AbortSignal.timeout(5_000));
    const stale = await lock.read(AbortSignal.timeout(5_000));
    // A replica of ours on `leases` takes the Lease in between.
    await leases.write(ours({ holderIdentity: 'ours-leases-only' }), await leases.read(AbortSignal.timeout(5_000)), AbortSignal.timeout(5_000));
    expect(await lock.write(ours({ renewTime: T0 + 5_000 }), stale, AbortSignal.timeout(5_000))).toBe(false);
    expect(api.objects.get(LEASE)?.spec?.['holderIdentity']).toBe('ours-leases-only');
  });

  it('a release empties only the parts that name us', async () => {
    const api = await fakeApi();
    const lock = leaderLock('endpointsleases', { kubeConfig: api.kubeConfig, namespace: 'default', name: 'aad-pod-identity-mic' });
    const leases = leaderLock('leases', { kubeConfig: api.kubeConfig, namespace: 'default', name: 'aad-pod-identity-mic' });
    await lock.write(ours(), await lock.read(AbortSignal.timeout(5_000)), AbortSignal.timeout(5_000));
    await leases.write(ours({ holderIdentity: 'someone-else' }), await leases.read(AbortSignal.timeout(5_000)), AbortSignal.timeout(5_000));
    expect(await lock.release('ours', T0 + 1_000)).toBe(true);
    expect(endpointsHolder(api)).toBe('');
    expect(api.objects.get(LEASE)?.spec?.['holderIdentity']).toBe('someone-else');
    expect(await lock.release('ours', T0 + 2_000)).toBe(false);
  });
});
