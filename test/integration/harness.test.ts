import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { readAuditEvents } from '../../src/devenv/audit.ts';
import {
  auditEvents,
  controlPlane,
  createClientCertUser,
  helm,
  kubeConfig,
  kubectl,
  serviceAccountKubeconfig,
  uniqueNamespace,
} from '../harness/context.ts';
import { startControlPlane } from '../../src/devenv/control-plane.ts';

const KUBE_VERSION = 'v1.36.3';

/** Status code of a client-node call that is expected to fail. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (e) {
    if (e instanceof ApiException) return e.code;
    throw e;
  }
}

async function ok(args: string[], options?: { kubeconfigPath?: string; input?: string }): Promise<string> {
  const r = await kubectl(args, options);
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('shared control plane (global setup)', () => {
  it('reports its start-up time', () => {
    const cp = controlPlane();
    console.log(`shared control plane started (etcd + kube-apiserver to ready) in ${cp.startupMs} ms`);
    expect(cp.startupMs).toBeGreaterThan(0);
    expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('runs the real kube-apiserver and kubectl versions', async () => {
    const v = JSON.parse(await ok(['version', '-o', 'json'])) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(v.serverVersion.gitVersion).toBe(KUBE_VERSION);
    expect(v.clientVersion.gitVersion).toBe(KUBE_VERSION);
  });

  it('ships helm v3.22.0', async () => {
    const r = await helm(['version', '--short']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^v3\.22\.0/);
  });

  it('lets admin create a ConfigMap and records it in the audit log', async () => {
    const ns = await uniqueNamespace('harness-admin');
    await ok(['create', 'configmap', 'cm1', '-n', ns, '--from-literal=k=v']);
    const cm = await kubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'cm1', namespace: ns });
    expect(cm.data).toEqual({ k: 'v' });

    // The ResponseComplete event can land just after the client saw the response.
    await vi.waitFor(
      async () => {
        const found = (await auditEvents()).some(
          (e) => e.verb === 'create' && e.objectRef?.resource === 'configmaps' && e.objectRef.namespace === ns && e.objectRef.name === 'cm1',
        );
        expect(found, `no audit event for creating configmap ${ns}/cm1 in ${controlPlane().auditLogPath}`).toBe(true);
      },
      { timeout: 5_000, interval: 100 },
    );
    expect((await readFile(controlPlane().auditLogPath, 'utf8')).length).toBeGreaterThan(0);
  });

  it('denies a client-cert user without RBAC, and allows it after a RoleBinding to view', async () => {
    const ns = await uniqueNamespace('harness-user');
    const alice = await createClientCertUser('alice', ['team-a']);
    const asAlice = kubeConfig(alice).makeApiClient(CoreV1Api);

    expect(await statusOf(asAlice.listNamespacedConfigMap({ namespace: ns }))).toBe(403);
    const denied = await kubectl(['get', 'configmaps', '-n', ns], { kubeconfigPath: alice });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('forbidden');
    expect(denied.stderr).toContain('User "alice"');

    await ok(['create', 'rolebinding', 'alice-view', '--clusterrole=view', '--user=alice', '-n', ns]);
    // The RBAC authorizer reads bindings from an informer: they apply shortly after the write.
    await vi.waitFor(
      async () => {
        expect(await statusOf(asAlice.listNamespacedConfigMap({ namespace: ns }))).toBe(200);
      },
      { timeout: 5_000, interval: 50 },
    );
    await ok(['get', 'configmaps', '-n', ns], { kubeconfigPath: alice });
    // view grants reads only, and only in that namespace.
    expect((await kubectl(['create', 'configmap', 'x', '-n', ns], { kubeconfigPath: alice })).stderr).toContain('forbidden');
    expect(await statusOf(asAlice.listNamespacedConfigMap({ namespace: 'default' }))).toBe(403);
  });

  it('authenticates a ServiceAccount token from TokenRequest, limited by its RBAC', async () => {
    const ns = await uniqueNamespace('harness-sa');
    const sa = await serviceAccountKubeconfig(ns, 'reader', 600);

    const who = JSON.parse(await ok(['auth', 'whoami', '-o', 'json'], { kubeconfigPath: sa })) as {
      status: { userInfo: { username: string; groups: string[] } };
    };
    expect(who.status.userInfo.username).toBe(`system:serviceaccount:${ns}:reader`);
    expect(who.status.userInfo.groups).toContain(`system:serviceaccounts:${ns}`);

    const before = await kubectl(['get', 'configmaps', '-n', ns], { kubeconfigPath: sa });
    expect(before.stderr).toContain('forbidden');
    await ok(['create', 'role', 'cm-reader', '--verb=get,list', '--resource=configmaps', '-n', ns]);
    await ok(['create', 'rolebinding', 'cm-reader', '--role=cm-reader', `--serviceaccount=${ns}:reader`, '-n', ns]);
    await vi.waitFor(() => ok(['get', 'configmaps', '-n', ns], { kubeconfigPath: sa }), { timeout: 5_000, interval: 50 });
    const secrets = await kubectl(['get', 'secrets', '-n', ns], { kubeconfigPath: sa });
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toContain(`User "system:serviceaccount:${ns}:reader" cannot list resource "secrets"`);
  });
});

describe('independent control plane', () => {
  it('keeps data across an apiserver restart and leaves nothing behind on stop', async () => {
    const cp = await startControlPlane({ binDir: controlPlane().binDir });
    const pids: number[] = [];
    try {
      console.log(`second control plane started (etcd + kube-apiserver to ready) in ${cp.startupMs} ms`);
      for (const f of ['etcd.pid', 'kube-apiserver.pid']) pids.push(Number(await readFile(path.join(cp.dir, f), 'utf8')));

      const created = await cp.kubectl(['create', 'configmap', 'survivor', '-n', 'default', '--from-literal=a=b']);
      expect(created.code, created.stderr).toBe(0);

      const t0 = performance.now();
      await cp.restartApiServer();
      console.log(`kube-apiserver restart to ready took ${Math.round(performance.now() - t0)} ms`);
      pids.push(Number(await readFile(path.join(cp.dir, 'kube-apiserver.pid'), 'utf8')));

      const got = await cp.kubectl(['get', 'configmap', 'survivor', '-n', 'default', '-o', 'jsonpath={.data.a}']);
      expect(got.code, got.stderr).toBe(0);
      expect(got.stdout).toBe('b');
      expect((await readAuditEvents(cp.auditLogPath)).some((e) => e.objectRef?.name === 'survivor')).toBe(true);
    } finally {
      await cp.stop();
    }
    await cp.stop(); // idempotent

    expect(existsSync(cp.dir)).toBe(false);
    const name = path.basename(cp.dir);
    expect((await readdir('/dev/shm').catch(() => [] as string[])).filter((n) => n.startsWith(name))).toEqual([]);
    for (const pid of pids) expect(() => process.kill(pid, 0), `pid ${pid} still alive`).toThrow();
  });
});
