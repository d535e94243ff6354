import { describe, expect, it } from 'vitest';
import type { Examples } from '../../../src/cli/sandbox/examples.ts';
import { examplesNodeMismatch } from '../../../src/cli/sandbox/phases/azure.ts';
import { demoProblems, podOutcome, type FederatedOutcome } from '../../../src/cli/sandbox/phases/demo.ts';
import { renewDelayMs } from '../../../src/cli/sandbox/phases/federated-token.ts';
import { federatedTrace } from '../../../src/cli/sandbox/phases/federated-trace.ts';
import type { RequestLogEntry } from '../../../src/sim/http/request-log.ts';
import { MIC_ENTRY, micCommand } from '../../../src/cli/sandbox/phases/mic.ts';
import { Teardown } from '../../../src/cli/sandbox/steps.ts';

const EXAMPLES: Examples = {
  identity: { name: 'demo-identity', resourceId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/demo-identity', clientId: 'C1', subscriptionId: 's', resourceGroup: 'g' },
  federated: {
    name: 'demo-federated-identity',
    azureName: 'demo-federated',
    resourceId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/demo-federated',
    clientId: 'C2',
    tenantId: 't',
    subscriptionId: 's',
    resourceGroup: 'g',
  },
  podNodes: ['node-0', 'node-0', 'node-0'],
  files: [],
  federatedFile: 'federated.yaml',
};

const CLEAN_TRACE = { entraExchanges: 1, armWrites: 0, imdsRequests: 0, onNode: false };

const jwt = (claims: object): string => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('the MIC phase command line', () => {
  it('is src/mic/main.ts with upstream-style flags, extra flags last, and MIC_POD_NAMESPACE', () => {
    const command = micCommand({ name: 'mic', dir: '/d', kubeconfigPath: '/k', cloudconfigPath: '/a.json', instance: 'i', healthPort: 1, metricsPort: 2, extraArgs: ['--x=1'], env: { EXTRA: 'y' } });
    expect(command.file).toBe(process.execPath);
    expect(MIC_ENTRY).toMatch(/\/src\/mic\/main\.ts$/);
    expect(command.args).toEqual([
      MIC_ENTRY,
      '--kubeconfig=/k',
      '--cloudconfig=/a.json',
      '--leader-election-instance=i',
      '--leader-election-namespace=kube-system',
      '--http-probe-port=1',
      '--prometheus-port=2',
      '--health-bind-address=127.0.0.1',
      '--metrics-bind-address=127.0.0.1',
      '--log-format=json',
      '--x=1',
    ]);
    expect(command.env).toMatchObject({ MIC_POD_NAMESPACE: 'kube-system', EXTRA: 'y' });
    expect(command.env['PATH']).toBeTruthy();
    expect(micCommand({ name: 'mic', dir: '/d', kubeconfigPath: '/k', cloudconfigPath: '/a', instance: 'i', healthPort: 1, metricsPort: 2, entry: '/dist/main.js' }).args[0]).toBe('/dist/main.js');
  });
});

describe('the demo verdict', () => {
  const pod = { ip: '127.1.1.2' };

  it('holds when the allowed pod gets a token for the identity and the other is refused', () => {
    const allowed = podOutcome('demo-allowed', pod, { status: 200, body: JSON.stringify({ access_token: jwt({ appid: 'c1', aud: 'x' }) }) });
    const denied = podOutcome('demo-denied', pod, { status: 404, body: '{"error":"identity_not_found","error_description":"no binding"}' });
    expect(allowed).toMatchObject({ token: true, claims: { appid: 'c1', aud: 'x' } });
    expect(denied).toMatchObject({ token: false, error: 'identity_not_found', errorDescription: 'no binding' });
    const federated: FederatedOutcome = { ...podOutcome('demo-federated', pod, { status: 200, body: JSON.stringify({ access_token: jwt({ appid: 'c2' }) }) }), trace: CLEAN_TRACE };
    expect(demoProblems({ allowed, denied, federated }, EXAMPLES)).toEqual([]);
  });

  it('names what went wrong with the federated pod: no token for its identity, ARM written, IMDS asked, identity on the node', () => {
    const allowed = podOutcome('demo-allowed', pod, { status: 200, body: JSON.stringify({ access_token: jwt({ appid: 'c1' }) }) });
    const denied = podOutcome('demo-denied', pod, { status: 404, body: '{"error":"identity_not_found"}' });
    const wrong: FederatedOutcome = { ...podOutcome('demo-federated', pod, { status: 200, body: JSON.stringify({ access_token: jwt({ appid: 'c1' }) }) }), trace: { entraExchanges: 0, armWrites: 2, imdsRequests: 1, onNode: true } };
    expect(demoProblems({ allowed, denied, federated: wrong }, EXAMPLES)).toEqual([
      'demo-federated did not get a token for demo-federated-identity',
      'ARM was written to (2) while demo-federated got its token',
      "the node's IMDS was asked (1) while demo-federated got its token",
      'demo-federated was put on the node',
    ]);
  });

  it('names what went wrong', () => {
    const refused = podOutcome('demo-allowed', pod, { status: 500, body: 'not json' });
    const leaked = podOutcome('demo-denied', pod, { status: 200, body: JSON.stringify({ access_token: jwt({ appid: 'c1' }) }) });
    expect(refused).toMatchObject({ token: false, error: 'not json' });
    const federated: FederatedOutcome = { ...podOutcome('demo-federated', pod, { status: 200, body: JSON.stringify({ access_token: jwt({ appid: 'C2' }) }) }), trace: CLEAN_TRACE };
    expect(demoProblems({ allowed: refused, denied: leaked, federated }, EXAMPLES)).toEqual(['demo-allowed did not get a token for demo-identity', 'demo-denied got a token']);
  });

  it('refuses examples whose pods name another node', () => {
    expect(examplesNodeMismatch(EXAMPLES, 'node-0')).toBeUndefined();
    expect(examplesNodeMismatch(EXAMPLES, 'node-1')).toBe('examples/sandbox/pods.yaml names node node-0, the simulated node is node-1');
  });
});

describe('the federated trace', () => {
  const entry = (service: string, method: string, path: string): RequestLogEntry => ({ seq: 1, time: '', service, method, path, query: {}, status: 200, durationMs: 1, clientAddress: '127.0.0.1' });
  const id = EXAMPLES.federated.resourceId;

  it('counts client-assertion exchanges, ARM writes and IMDS requests; reads are not writes', () => {
    const entries = [
      entry('entra', 'POST', '/t/oauth2/v2.0/token'),
      entry('entra', 'GET', '/t/v2.0/.well-known/openid-configuration'),
      entry('arm', 'GET', '/subscriptions/s/resourceGroups/g'),
      entry('admin', 'GET', '/requests'),
    ];
    expect(federatedTrace(entries, { scaleSets: [], virtualMachines: [] }, id)).toEqual(CLEAN_TRACE);
    const noisy = [...entries, entry('arm', 'PATCH', '/subscriptions/s/x'), entry('arm', 'PUT', '/subscriptions/s/y'), entry('imds:node-0', 'GET', '/metadata/identity/oauth2/token')];
    expect(federatedTrace(noisy, { scaleSets: [], virtualMachines: [] }, id)).toMatchObject({ armWrites: 2, imdsRequests: 1 });
  });

  it('finds the identity on a scale set or VM, whatever its casing', () => {
    const onScaleSet = { scaleSets: [{ identity: { userAssignedIdentities: [id.toUpperCase()] } }], virtualMachines: [] };
    expect(federatedTrace([], onScaleSet as never, id).onNode).toBe(true);
    const elsewhere = { scaleSets: [{ identity: { userAssignedIdentities: ['/other'] } }], virtualMachines: [{ identity: { userAssignedIdentities: [] } }] };
    expect(federatedTrace([], elsewhere as never, id).onNode).toBe(false);
  });
});

describe("the renewal of NMI's federated token", () => {
  it('comes at 80 % of the lifetime, at least a second after issuing', () => {
    expect(renewDelayMs(0, 3_600_000)).toBe(2_880_000);
    expect(renewDelayMs(1_000, 1_500)).toBe(1_000);
  });
});

describe('the sandbox teardown', () => {
  it('undoes newest first, every step even after a failure, once', async () => {
    const teardown = new Teardown();
    const done: string[] = [];
    teardown.add('first', () => { done.push('first'); return Promise.resolve(); });
    teardown.add('second', () => Promise.reject(new Error('boom')));
    teardown.add('third', () => { done.push('third'); return Promise.resolve(); });
    expect(await teardown.run()).toEqual(['second: boom']);
    expect(done).toEqual(['third', 'first']);
    expect(await teardown.run()).toEqual([]);
    expect(done).toEqual(['third', 'first']);
  });
});
