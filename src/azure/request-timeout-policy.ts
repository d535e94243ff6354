/**
 * A deadline for each ARM request attempt (LRO polls included). Without one, a request that ARM (or
 * anything on the way) accepts and never answers holds its VM / scale set for as long as the
 * connection stays open — found by the MIC fault suite: a PATCH hung for 40 s held the assignment
 * 40 s, and a connection that is never closed would hold it forever. The timeout surfaces as an
 * `ETIMEDOUT` RestError without a response: a transport failure, which the transient retry policy
 * (placed before this one) retries and the classifier reports as "no response".
 * @module
 */
import { RestError, type PipelinePolicy, type PipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';
import type { Clock } from '../lib/clock.ts';

export const REQUEST_TIMEOUT_POLICY_NAME = 'podIdentityRequestTimeoutPolicy';

/** Per attempt. ARM answers reads and accepts PATCHes in well under a second; long work is an LRO. */
export const DEFAULT_ARM_REQUEST_TIMEOUT_MS = 30_000;

export function requestTimeoutPolicy(timeoutMs: number, clock: Clock): PipelinePolicy {
  return {
    name: REQUEST_TIMEOUT_POLICY_NAME,
    async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
      const outer = request.abortSignal;
      // A function: the caller may abort while we await (TypeScript would narrow a plain read).
      const callerAborted = (): boolean => outer?.aborted === true;
      if (timeoutMs <= 0 || callerAborted()) return next(request);
      const controller = new AbortController();
      const expired = new Error(`no response from ARM within ${timeoutMs} ms`);
      const onAbort = (): void => {
        controller.abort();
      };
      outer?.addEventListener('abort', onAbort);
      const cancel = clock.setTimer(timeoutMs, () => {
        controller.abort(expired);
      });
      request.abortSignal = controller.signal;
      try {
        return await next(request);
      } catch (error) {
        if (controller.signal.reason === expired && !callerAborted()) throw new RestError(expired.message, { code: 'ETIMEDOUT', request });
        throw error;
      } finally {
        cancel();
        outer?.removeEventListener('abort', onAbort);
        request.abortSignal = outer;
      }
    },
  };
}
