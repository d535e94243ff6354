/**
 * Each ARM attempt has a deadline: a request that is never answered becomes a transport failure
 * (ETIMEDOUT) that the transient retry policy retries, instead of holding the target for as long as
 * the connection stays open (found by the MIC fault suite, test/reliability/mic-faults.ts).
 */
import type { HttpClient, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { createHttpHeaders } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { createComputeIdentityClient } from '../../../src/azure/compute-identity-client.ts';
import { armFailureOf } from '../../../src/azure/arm-failure.ts';
import { ArmRequestError } from '../../../src/azure/errors.ts';
import type { ComputeTargetRef } from '../../../src/azure/provider-id.ts';
import { ManualClock } from '../../support/manual-clock.ts';

const VM: ComputeTargetRef = { kind: 'vm', subscriptionId: '11111111-1111-4111-8111-111111111111', resourceGroup: 'rg', name: 'node-1' };
const credential: TokenCredential = { getToken: () => Promise.resolve({ token: 'fake-token-0123456789', expiresOnTimestamp: Date.now() + 3_600_000 }) };

/** ARM that accepts requests and never answers them (until attempt `answerFrom`), like a black-holed connection. */
class SilentArm implements HttpClient {
  attempts = 0;
  aborted = 0;
  answerFrom = Number.POSITIVE_INFINITY;

  sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    this.attempts++;
    if (this.attempts >= this.answerFrom) {
      const body = { id: 'x', name: 'x', location: 'westeurope', identity: { type: 'None' }, properties: { provisioningState: 'Succeeded' } };
      return Promise.resolve({ request, status: 200, headers: createHttpHeaders({ 'content-type': 'application/json' }), bodyAsText: JSON.stringify(body) });
    }
    return new Promise((_resolve, reject) => {
      request.abortSignal?.addEventListener('abort', () => {
        this.aborted++;
        const error = new Error('The operation was aborted.');
        error.name = 'AbortError';
        reject(error);
      });
    });
  }
}

function clientOver(arm: SilentArm, clock: ManualClock, maxRetries: number): ReturnType<typeof createComputeIdentityClient> {
  return createComputeIdentityClient({
    credential,
    cloud: { resourceManagerEndpoint: 'https://arm.test', armScope: 'https://management.azure.com/.default' },
    clock,
    logger: pino({ level: 'silent' }),
    transientRetry: { maxRetries, baseDelayMs: 100, maxDelayMs: 100 },
    requestTimeoutMs: 5_000,
    httpClient: arm,
  });
}

describe('ARM request timeout', () => {
  it('gives up on an unanswered attempt after the timeout and retries it as a transport failure', async () => {
    const arm = new SilentArm();
    arm.answerFrom = 2;
    const clock = new ManualClock();
    const read = clientOver(arm, clock, 1).getIdentity(VM);
    await vi.waitFor(() => { expect(arm.attempts).toBe(1); });
    await clock.advance(4_999);
    expect(arm.aborted).toBe(0);
    await clock.advance(1);
    expect(arm.aborted).toBe(1);
    await vi.waitFor(async () => {
      await clock.advance(50);
      expect(arm.attempts).toBe(2);
    });
    await expect(read).resolves.toMatchObject({ provisioningState: 'Succeeded' });
  });

  it('reports "no response" once the retries are spent', async () => {
    const arm = new SilentArm();
    const clock = new ManualClock();
    const read = clientOver(arm, clock, 0).getIdentity(VM).catch((error: unknown) => error);
    await vi.waitFor(() => { expect(arm.attempts).toBe(1); });
    await clock.advance(5_000);
    const error = await read;
    expect(error).toBeInstanceOf(ArmRequestError);
    expect(error).toMatchObject({ context: { statusCode: undefined, armMessage: 'ETIMEDOUT: no response from ARM within 5000 ms' } });
    expect(armFailureOf((error as ArmRequestError).cause)?.transport).toBe(true);
  });

  it('a caller abort stays an abort (not a timeout)', async () => {
    const arm = new SilentArm();
    const clock = new ManualClock();
    const controller = new AbortController();
    const read = clientOver(arm, clock, 2).getIdentity(VM, controller.signal).catch((error: unknown) => error);
    await vi.waitFor(() => { expect(arm.attempts).toBe(1); });
    controller.abort();
    const error = await read;
    expect((error as Error).name).toBe('AbortError');
    expect(arm.attempts).toBe(1);
  });
});
