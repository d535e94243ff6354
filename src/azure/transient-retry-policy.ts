/**
 * The only retries the ARM pipeline makes: transport errors and 408/500/502/503/504 — what autorest
 * retried for upstream (aad-pod-identity-behaviour.md §2.6) — with bounded exponential backoff on
 * the injected clock. Throttling is deliberately NOT retried here: the SDK's default policy would
 * sleep through 429/503 Retry-After windows (up to 3 times, azure-protocols.md §3.6/§7) while the
 * caller waits; instead the response goes back to the client, which raises ThrottledError and
 * closes its throttle gate. Retrying a PATCH is safe: identity PATCHes merge (`{}` adds, `null`
 * removes), so a repeat changes nothing or meets 409 while the first still runs.
 * @module
 */
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from '@azure/core-rest-pipeline';
import { backoffDelay, type BackoffPolicy } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';

export const TRANSIENT_RETRY_POLICY_NAME = 'podIdentityTransientRetryPolicy';

export interface TransientRetryOptions {
  /** Retries after the first attempt; 0 = none. */
  readonly maxRetries: number;
  /** Delay before the first retry; doubles per retry. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_TRANSIENT_RETRY: TransientRetryOptions = { maxRetries: 2, baseDelayMs: 1_000, maxDelayMs: 8_000 };

/** Errno-style codes of requests that got no response (core-rest-pipeline's `isSystemError`, plus a few). */
const TRANSIENT_CODES: ReadonlySet<string> = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN', 'REQUEST_SEND_ERROR']);

const RETRY_AFTER_HEADERS = ['retry-after', 'retry-after-ms', 'x-ms-retry-after-ms'];

/** 408 and 5xx except 501/505; a 503 that names a Retry-After is throttling, not transient. */
export function isTransientResponse(response: PipelineResponse): boolean {
  const { status } = response;
  if (status === 503) return !RETRY_AFTER_HEADERS.some((name) => response.headers.has(name));
  return status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

export function isTransientError(error: unknown): boolean {
  if (!(error instanceof Error) || error.name === 'AbortError') return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

/** The SDK's AbortError (by name, like @azure/abort-controller's). */
function abortError(): Error {
  const error = new Error('The operation was aborted.');
  error.name = 'AbortError';
  return error;
}

/** `clock.sleep` for the SDK's AbortSignalLike. */
function sleep(clock: Clock, ms: number, signal: PipelineRequest['abortSignal']): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortError());
      return;
    }
    const onAbort = (): void => {
      cancel();
      reject(abortError());
    };
    const cancel = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort);
  });
}

export function transientRetryPolicy(options: TransientRetryOptions, clock: Clock, random: () => number = Math.random): PipelinePolicy {
  const backoff: BackoffPolicy = { baseMs: options.baseDelayMs, maxMs: options.maxDelayMs, jitter: 0.2 };
  return {
    name: TRANSIENT_RETRY_POLICY_NAME,
    async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
      for (let retry = 0; ; retry++) {
        let response: PipelineResponse | undefined;
        let failure: unknown;
        try {
          response = await next(request);
        } catch (error) {
          failure = error;
        }
        const transient = response === undefined ? isTransientError(failure) : isTransientResponse(response);
        if (!transient || retry >= options.maxRetries || request.abortSignal?.aborted === true) {
          if (response === undefined) throw failure;
          return response;
        }
        await sleep(clock, backoffDelay(backoff, retry + 1, random), request.abortSignal);
      }
    },
  };
}
