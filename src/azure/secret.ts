/**
 * A string that must never be logged: the value is only readable through {@link Secret.reveal};
 * every way of printing it (`JSON.stringify`, pino, `util.inspect`, template strings, `String()`)
 * shows `[redacted]`.
 * @module
 */
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

export class Secret {
  // A private field: not enumerable, not copied by spreading or structuredClone, not seen by inspect.
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
    Object.freeze(this);
  }

  /** The secret itself; pass it straight to the API that needs it. */
  reveal(): string {
    return this.#value;
  }

  /** Constant-content comparison (for change detection, not for authentication). */
  equals(other: Secret | undefined): boolean {
    return other !== undefined && other.#value === this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
