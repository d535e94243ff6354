import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KubeconfigError, loadKubeAccess } from '../../../src/kube/lite-kubeconfig.ts';
import { writeKubeconfig } from '../../support/kubeconfig-file.ts';

function kubeconfig(user: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return writeKubeconfig('lite-kubeconfig', user, { 'certificate-authority-data': Buffer.from('CA').toString('base64') }, extra);
}

describe('lite kubeconfig', () => {
  it('reads a bearer token and the server of the current context', async () => {
    const access = loadKubeAccess({ kubeconfigPath: kubeconfig({ token: 'abc' }) });
    expect(access.server).toBe('https://127.0.0.1:6443');
    expect((await access.prepare()).headers).toEqual({ Authorization: 'Bearer abc' });
  });

  it('reads a token file relative to the kubeconfig', async () => {
    const file = kubeconfig({ tokenFile: 'token' });
    writeFileSync(path.join(path.dirname(file), 'token'), 'from-file\n');
    expect((await loadKubeAccess({ kubeconfigPath: file }).prepare()).headers).toEqual({ Authorization: 'Bearer from-file' });
  });

  it('refuses exec plugins and missing contexts with a clear error', () => {
    expect(() => loadKubeAccess({ kubeconfigPath: kubeconfig({ exec: { command: 'kubelogin' } }) })).toThrow(/exec plugin/);
    expect(() => loadKubeAccess({ kubeconfigPath: kubeconfig({ token: 'x' }), context: 'nope' })).toThrow(KubeconfigError);
  });

  it('needs KUBERNETES_SERVICE_HOST for in-cluster configuration', () => {
    expect(() => loadKubeAccess({ env: {} })).toThrow(/not running in a cluster/);
  });
});
