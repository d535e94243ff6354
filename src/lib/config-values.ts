/**
 * Shapes shared by the components' parsed configurations: listen addresses, notices to log once the
 * logger exists, and deep freezing of the result.
 * @module
 */

export interface ListenAddress {
  /** Empty: every interface (IPv6 and IPv4 where available), like Go's `:port`. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

/** Something worth logging once the logger exists: a deprecated, ignored or odd setting. */
export interface ConfigNotice {
  /** `--flag` or the environment variable. */
  readonly setting: string;
  readonly message: string;
}

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
