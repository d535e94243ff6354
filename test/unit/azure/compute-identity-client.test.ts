/**
 * The compute identity client over a fake transport (the SDK's `httpClient` seam): what goes on the
 * wire (only the identity block, `null` removals, the pre-PATCH read), the throttle gate on a manual
 * clock, and the SDK's own retries being replaced. ARM behaviour itself is covered against the
 * simulator in test/integration/azure-compute-client.test.ts.
 */
import type { HttpClient, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { createHttpHeaders } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { createComputeIdentityClient, type ComputeIdentityClient, type ComputeOperationReport } from '../../../src/azure/compute-identity-client.ts';
import { ArmRequestError, TargetDeletingError, ThrottledError } from '../../../src/azure/errors.ts';
import type { ComputeTargetRef } from '../../../src/azure/provider-id.ts';
import { ManualClock } from '../../support/manual-clock.ts';

const TOKEN = 'fake-access-token-0123456789';
const SUB = '11111111-1111-4111-8111-111111111111';
const OTHER_SUB = '22222222-2222-4222-8222-222222222222';
const VM: ComputeTargetRef = { kind: 'vm', subscriptionId: SUB, resourceGroup: 'rg', name: 'node-1' };
const VMSS: ComputeTargetRef = { kind: 'vmss', subscriptionId: SUB, resourceGroup: 'rg', name: 'pool' };
const uami = (name: string): string => `/subscriptions/${SUB}/resourcegroups/ids/providers/microsoft.managedidentity/userassignedidentities/${name}`;

interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly userAgent: string | undefined;
  readonly authorized: boolean;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

/** A fake ARM: answers from `handler`, records every request. */
class FakeArm implements HttpClient {
  readonly sent: SentRequest[] = [];
  handler: (request: SentRequest) => Answer = () => ({ status: 500 });

  sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    const url = new URL(request.url);
    const sent: SentRequest = {
      method: request.method,
      path: url.pathname,
      body: typeof request.body === 'string' ? JSON.parse(request.body) : undefined,
      userAgent: request.headers.get('user-agent'),
      authorized: request.headers.get('authorization') === `Bearer ${TOKEN}`,
    };
    this.sent.push(sent);
    const answer = this.handler(sent);
    return Promise.resolve({
      request,
      status: answer.status,
      headers: createHttpHeaders({ 'content-type': 'application/json', 'x-ms-request-id': `req-${this.sent.length}`, ...answer.headers }),
      ...(answer.body !== undefined ? { bodyAsText: JSON.stringify(answer.body) } : {}),
    });
  }
}

const credential: TokenCredential = { getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };

function resource(identity: unknown, provisioningState = 'Succeeded'): unknown {
  return { id: 'x', name: 'x', location: 'westeurope', ...(identity !== undefined ? { identity } : {}), properties: { provisioningState } };
}

describe('compute identity client (fake transport)', () => {
  let arm: FakeArm;
  let clock: ManualClock;
  let reports: ComputeOperationReport[];
  let logLines: string[];
  let client: ComputeIdentityClient;

  beforeEach(() => {
    arm = new FakeArm();
    clock = new ManualClock();
    reports = [];
    logLines = [];
    const logger = pino(
      { level: 'trace' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(chunk.toString('utf8'));
          done();
        },
      }),
    );
    client = createComputeIdentityClient({
      credential,
      cloud: { resourceManagerEndpoint: 'https://arm.test', armScope: 'https://management.azure.com/.default' },
      userAgent: 'pod-identity-mic/0.1.0',
      clock,
      logger,
      onOperation: (op) => reports.push(op),
      pollIntervalMs: 10,
      transientRetry: { maxRetries: 0, baseDelayMs: 0, maxDelayMs: 0 },
      httpClient: arm,
    });
  });

  it('reads the identity block and provisioningState of a VM and a scale set', async () => {
    arm.handler = (request) =>
      request.path.includes('virtualMachineScaleSets')
        ? { status: 200, body: resource({ type: 'SystemAssigned, UserAssigned', principalId: 'p', userAssignedIdentities: { [uami('a')]: { clientId: 'c', principalId: 'p' } } }, 'Updating') }
        : { status: 200, body: resource(undefined) };
    expect(await client.getIdentity(VM)).toEqual({ identity: { type: undefined, userAssignedIdentities: [] }, provisioningState: 'Succeeded' });
    expect(await client.getIdentity(VMSS)).toEqual({ identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: [uami('a')] }, provisioningState: 'Updating' });
    expect(arm.sent.map((request) => [request.method, request.path])).toEqual([
      ['GET', `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/node-1`],
      ['GET', `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool`],
    ]);
    expect(arm.sent.every((request) => request.authorized && request.userAgent?.startsWith('pod-identity-mic/0.1.0 azsdk-js-arm-compute/') === true)).toBe(true);
    expect(reports.map((report) => report.type)).toEqual(['vm_get', 'vmss_get']);
  });

  it('PATCHes only the identity block, with null for removals, after reading the provisioningState', async () => {
    arm.handler = (request) =>
      request.method === 'GET'
        ? { status: 200, body: resource({ type: 'UserAssigned', userAssignedIdentities: { [uami('old')]: {} } }) }
        : { status: 200, body: resource({ type: 'UserAssigned', userAssignedIdentities: { [uami('new')]: {} } }) };
    const state = await client.patchIdentity(VMSS, { type: 'UserAssigned', userAssignedIdentities: { [uami('new')]: {}, [uami('old')]: null } });
    expect(state).toEqual({ identity: { type: 'UserAssigned', userAssignedIdentities: [uami('new')] }, provisioningState: 'Succeeded' });
    expect(arm.sent.map((request) => request.method)).toEqual(['GET', 'PATCH']);
    expect(arm.sent[1]?.body).toStrictEqual({ identity: { type: 'UserAssigned', userAssignedIdentities: { [uami('new')]: {}, [uami('old')]: null } } });
    expect(reports.map((report) => report.type)).toEqual(['vmss_get', 'vmss_update']);
  });

  it('sends a type-only block when no user-assigned identity remains', async () => {
    arm.handler = () => ({ status: 200, body: resource({ type: 'SystemAssigned', principalId: 'p' }) });
    await client.patchIdentity(VM, { type: 'SystemAssigned' });
    expect(arm.sent[1]?.body).toStrictEqual({ identity: { type: 'SystemAssigned' } });
  });

  it('skips the pre-PATCH read while a read of this client is fresh, and reads again after', async () => {
    arm.handler = () => ({ status: 200, body: resource({ type: 'None' }) });
    await client.getIdentity(VM);
    await client.patchIdentity(VM, { type: 'None' });
    expect(arm.sent.map((request) => request.method)).toEqual(['GET', 'PATCH']);
    await clock.advance(10_001);
    await client.patchIdentity(VM, { type: 'None' });
    expect(arm.sent.map((request) => request.method)).toEqual(['GET', 'PATCH', 'GET', 'PATCH']);
  });

  it('refuses to PATCH a resource being deleted', async () => {
    arm.handler = () => ({ status: 200, body: resource({ type: 'UserAssigned', userAssignedIdentities: { [uami('a')]: {} } }, 'Deleting') });
    const error = await client.patchIdentity(VMSS, { type: 'None' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TargetDeletingError);
    expect(error).toMatchObject({ retryAfterMs: 30_000, context: { operation: 'vmss_update', armMessage: 'provisioningState is Deleting' } });
    expect(arm.sent.map((request) => request.method)).toEqual(['GET']);
  });

  describe('throttle gate', () => {
    it('after a 429 on a write, refuses writes of that subscription without a request until Retry-After passes; reads and other subscriptions go on', async () => {
      let throttle = true;
      arm.handler = (request) => {
        if (request.method === 'PATCH' && throttle) return { status: 429, body: { error: { code: 'TooManyRequests', message: 'slow down' } }, headers: { 'retry-after': '2' } };
        return { status: 200, body: resource({ type: 'None' }) };
      };
      const first = await client.patchIdentity(VM, { type: 'None' }).catch((caught: unknown) => caught);
      expect(first).toBeInstanceOf(ThrottledError);
      expect(first).toMatchObject({ retryAfterMs: 2_000, scope: 'write', requestSent: true, context: { statusCode: 429, armCode: 'TooManyRequests', requestId: 'req-2' } });
      expect(arm.sent.map((request) => request.method)).toEqual(['GET', 'PATCH']);
      throttle = false;

      await clock.advance(500);
      const held = await client.patchIdentity(VMSS, { type: 'None' }).catch((caught: unknown) => caught);
      expect(held).toBeInstanceOf(ThrottledError);
      expect(held).toMatchObject({ retryAfterMs: 1_500, scope: 'write', requestSent: false });
      expect(arm.sent).toHaveLength(2);
      expect(reports.at(-1)).toEqual({ type: 'vmss_update', durationMs: 0, error: held });

      await expect(client.getIdentity(VMSS)).resolves.toMatchObject({ provisioningState: 'Succeeded' });
      await expect(client.patchIdentity({ ...VM, subscriptionId: OTHER_SUB }, { type: 'None' })).resolves.toBeDefined();
      expect(arm.sent).toHaveLength(5);

      await clock.advance(1_500);
      await expect(client.patchIdentity(VMSS, { type: 'None' })).resolves.toBeDefined();
      expect(arm.sent.map((request) => request.method).slice(5)).toEqual(['PATCH']);
    });

    it('after a 429 on a read, refuses reads — and so writes needing a read first — until x-ms-retry-after-ms passes', async () => {
      let throttle = true;
      arm.handler = () => (throttle ? { status: 429, headers: { 'x-ms-retry-after-ms': '800' }, body: { error: { code: 'TooManyRequests', message: 'x' } } } : { status: 200, body: resource({ type: 'None' }) });
      await expect(client.getIdentity(VM)).rejects.toMatchObject({ scope: 'read', retryAfterMs: 800, requestSent: true });
      throttle = false;
      await expect(client.getIdentity(VMSS)).rejects.toMatchObject({ scope: 'read', retryAfterMs: 800, requestSent: false });
      await expect(client.patchIdentity(VMSS, { type: 'None' })).rejects.toMatchObject({ scope: 'read', requestSent: false });
      expect(arm.sent).toHaveLength(1);
      await clock.advance(800);
      await expect(client.patchIdentity(VMSS, { type: 'None' })).resolves.toBeDefined();
      expect(arm.sent).toHaveLength(3);
    });

    it('the SDK does not retry throttling itself (its default retry policy is replaced)', async () => {
      arm.handler = () => ({ status: 429, headers: { 'retry-after': '0' }, body: { error: { code: 'TooManyRequests', message: 'x' } } });
      await expect(client.getIdentity(VM)).rejects.toBeInstanceOf(ThrottledError);
      expect(arm.sent).toHaveLength(1);
    });

    it('nor 5xx when no transient retries are configured', async () => {
      arm.handler = () => ({ status: 500, body: { error: { code: 'InternalExecutionError', message: 'oops' } } });
      await expect(client.getIdentity(VM)).rejects.toBeInstanceOf(ArmRequestError);
      expect(arm.sent).toHaveLength(1);
    });
  });

  it('never logs the token', async () => {
    arm.handler = (request) => (request.method === 'PATCH' ? { status: 429, headers: { 'retry-after': '1' }, body: { error: { code: 'TooManyRequests', message: 'x' } } } : { status: 200, body: resource({ type: 'None' }) });
    await client.patchIdentity(VM, { type: 'None' }).catch(() => undefined);
    await client.patchIdentity(VM, { type: 'None' }).catch(() => undefined);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(TOKEN);
    expect(logLines.join('\n')).toContain('ARM throttled');
  });
});
