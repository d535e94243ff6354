import { describe, expect, it } from 'vitest';
import { loadAnyKubeAccess } from '../../../src/kube/load-access.ts';
import { UnsupportedKubeconfigError, loadKubeAccess } from '../../../src/kube/lite-kubeconfig.ts';
import { writeKubeconfig } from '../../support/kubeconfig-file.ts';

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return writeKubeconfig('load-access', user, { 'insecure-skip-tls-verify': true, ...cluster });
}

/** An exec plugin that prints an ExecCredential with `token` (run by client-node). */
function execPlugin(token: string): Record<string, unknown> {
  const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } });
  return { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', `process.stdout.write(${JSON.stringify(credential)})`], interactiveMode: 'Never' } };
}

describe('loadAnyKubeAccess', () => {
  it('reads token kubeconfigs with the small loader', async () => {
    const access = await loadAnyKubeAccess({ kubeconfigPath: kubeconfig({ token: 'abc' }) });
    expect(access.server).toBe('https://127.0.0.1:6443');
    expect((await access.prepare()).headers).toEqual({ Authorization: 'Bearer abc' });
  });

  it('hands exec plugins to client-node, which runs them', async () => {
    const file = kubeconfig(execPlugin('from-exec'));
    expect(() => loadKubeAccess({ kubeconfigPath: file })).toThrow(UnsupportedKubeconfigError);
    const access = await loadAnyKubeAccess({ kubeconfigPath: file });
    expect(access.server).toBe('https://127.0.0.1:6443');
    expect((await access.prepare()).headers['Authorization']).toBe('Bearer from-exec');
  });

  it('hands proxied clusters to client-node', async () => {
    const file = kubeconfig({ token: 'abc' }, { 'proxy-url': 'http://127.0.0.1:3128' });
    expect(() => loadKubeAccess({ kubeconfigPath: file })).toThrow(UnsupportedKubeconfigError);
    expect((await (await loadAnyKubeAccess({ kubeconfigPath: file })).prepare()).headers['Authorization']).toBe('Bearer abc');
  });

  it('does not fall back for in-cluster configuration', async () => {
    await expect(loadAnyKubeAccess({ env: {} })).rejects.toThrow(/not running in a cluster/);
  });
});
