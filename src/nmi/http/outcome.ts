/**
 * What NMI decides for a request, independent of the HTTP framework: a JSON answer (status, body,
 * headers) or "proxy this to IMDS". app.ts sends it; every error answer is built from an
 * {@link ImdsError} here, with `Retry-After` when it carries one.
 * @module
 */
import { imdsErrorBody, type ImdsError } from './imds-errors.ts';

export type Outcome =
  | {
      readonly kind: 'json';
      readonly status: number;
      readonly body: unknown;
      readonly headers?: Readonly<Record<string, string>>;
      /** `body` already serialised (a cached token's answer), sent instead of serialising it again. */
      readonly json?: string;
    }
  | { readonly kind: 'proxy' };

export const PROXY: Outcome = { kind: 'proxy' };

export function answer(status: number, body: unknown, headers?: Record<string, string>): Outcome {
  return { kind: 'json', status, body, ...(headers === undefined ? {} : { headers }) };
}

/** A 200 whose body was serialised once for many requests. */
export function serialisedAnswer(body: unknown, json: string): Outcome {
  return { kind: 'json', status: 200, body, json };
}

export function errorOutcome(error: ImdsError): Outcome {
  return answer(error.status, imdsErrorBody(error), error.retryAfterSeconds === undefined ? undefined : { 'retry-after': String(error.retryAfterSeconds) });
}
