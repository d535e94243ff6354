/**
 * Errors that change what a loop does, as types rather than strings: a {@link TerminalError} is
 * recorded but not retried; a {@link RetryAfterError} is retried no earlier than it says (ARM's
 * `Retry-After`, IMDS throttling). Everything else is retried with backoff.
 * @module
 */
import { inspect } from 'node:util';

/** Base of the project's errors: a stable machine-readable code plus the usual message and cause. */
export class PodIdentityError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Retrying cannot help (bad input, a permanent refusal): record it and stop. */
export class TerminalError extends PodIdentityError {
  constructor(message: string, options?: ErrorOptions & { code?: string }) {
    super(options?.code ?? 'PI_TERMINAL', message, options);
  }
}

/** Retry, but not before `retryAfterMs`. */
export class RetryAfterError extends PodIdentityError {
  readonly retryAfterMs: number;
  /**
   * The delay is the server's own answer (throttling with Retry-After): retry then, without growing
   * the caller's backoff on top. Otherwise (a guessed delay) repeated failures still back off.
   */
  readonly exact: boolean;

  constructor(message: string, retryAfterMs: number, options?: ErrorOptions & { code?: string; exact?: boolean }) {
    super(options?.code ?? 'PI_RETRY_AFTER', message, options);
    this.retryAfterMs = retryAfterMs;
    this.exact = options?.exact ?? false;
  }
}

/** Whether `error` (or an error in its cause chain) is of type `type`; returns the first match. */
export function findInChain<T extends Error>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 16; current = current.cause, depth++) {
    if (current instanceof type) return current;
  }
  return undefined;
}

/** A readable one-line description of any thrown value, following `cause` ("a: b: c"). */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error, depth = 0; current !== undefined && depth < 8; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(typeof current === 'string' ? current : inspect(current, { depth: 2, breakLength: Infinity }));
      break;
    }
  }
  return parts.join(': ');
}
