import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { ALLOWED_POD, FEDERATED_POD, NMI_SUBJECT, readExamples, SCALE_SET } from '../../../src/cli/sandbox/examples.ts';
import { decodeClaims } from '../../../src/cli/sandbox/phases/demo.ts';

function io(): { out: () => string; err: () => string; io: Parameters<typeof main>[1] } {
  let out = '';
  let err = '';
  return {
    out: () => out,
    err: () => err,
    io: {
      stdout: { write: (text: string) => (out += text) },
      stderr: { write: (text: string) => (err += text) },
      shutdown: new AbortController().signal,
    },
  };
}

describe('pod-identity sandbox (no processes started)', () => {
  it('is listed by --help and has its own help', async () => {
    const top = io();
    expect(await main(['--help'], top.io)).toBe(0);
    expect(top.out()).toMatch(/^ {2}sandbox +run the whole system/m);
    const own = io();
    expect(await main(['sandbox', '--help'], own.io)).toBe(0);
    expect(own.out()).toContain('--once');
    expect(own.out()).toContain('--rootless');
  });

  it('rejects unknown options with exit 2 before starting anything', async () => {
    const bad = io();
    expect(await main(['sandbox', '--bogus'], bad.io)).toBe(2);
    expect(bad.err()).toContain('unknown flag --bogus');
  });

  it('the examples name a user-assigned identity and pods on the simulated node', async () => {
    const examples = await readExamples();
    expect(examples.identity.name).toBe('demo-identity');
    expect(examples.identity.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(examples.identity.resourceGroup).toBe('sandbox-identities');
    expect(examples.podNodes).toEqual([`${SCALE_SET}000000`, `${SCALE_SET}000000`, `${SCALE_SET}000000`]);
    expect(examples.files.map((file) => file.split('/').at(-1))).toEqual(['namespace.yaml', 'identity.yaml', 'binding.yaml', 'pods.yaml']);
    expect(ALLOWED_POD).toBe('demo-allowed');
  });

  it('the federated example names a type-3 identity beside the user-assigned one, in a fixed tenant, and NMI as the subject', async () => {
    const examples = await readExamples();
    expect(examples.federatedFile.split('/').at(-1)).toBe('federated.yaml');
    expect(examples.federated).toMatchObject({ name: 'demo-federated-identity', azureName: 'demo-federated', subscriptionId: examples.identity.subscriptionId, resourceGroup: 'sandbox-identities' });
    expect(examples.federated.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(examples.federated.clientId).not.toBe(examples.identity.clientId);
    expect(examples.federated.tenantId).toMatch(/^[0-9a-f-]{36}$/);
    expect(FEDERATED_POD).toBe('demo-federated');
    expect(NMI_SUBJECT).toBe('system:serviceaccount:kube-system:pod-identity-nmi');
  });

  it('decodes the claims of a JWT without the signature', () => {
    const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    expect(decodeClaims(`${part({ alg: 'RS256' })}.${part({ appid: 'a', aud: 'b' })}.sig`)).toEqual({ appid: 'a', aud: 'b' });
    expect(() => decodeClaims('nope')).toThrow(/not a JWT/);
  });
});
