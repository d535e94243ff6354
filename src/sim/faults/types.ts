/**
 * Fault rules: what a test can make the simulator do instead of (or before) answering normally.
 * @module
 */

/** Delay the request by `ms`, then answer normally. */
export interface LatencyAction {
  readonly kind: 'latency';
  readonly ms: number;
}

/**
 * Answer with `status` and the service's own error shape (ARM envelope, AADSTS body, IMDS
 * `{error, error_description}`). 429 always carries `Retry-After` (default 1 s) and, on ARM, the
 * `x-ms-ratelimit-remaining-*: 0` headers.
 */
export interface StatusAction {
  readonly kind: 'status';
  readonly status: number;
  /** `Retry-After` in seconds; default 1 for 429, absent otherwise. */
  readonly retryAfterSeconds?: number;
  /** Error code in the service's envelope (default per status, e.g. ARM 429 `TooManyRequests`). */
  readonly code?: string;
  /** Error message in the service's envelope (default per status). */
  readonly message?: string;
  /** Replaces the whole JSON body. */
  readonly body?: unknown;
}

/** Destroy the connection without any response. */
export interface DropAction {
  readonly kind: 'drop';
}

/** Hold the request for `ms` without answering, then destroy the connection (a server that timed out). */
export interface HangAction {
  readonly kind: 'hang';
  readonly ms: number;
}

/**
 * Delete a user-assigned identity from the simulated Azure when the matching request arrives, then
 * answer normally: "identity deleted mid-flight" (e.g. match the poll of an assignment's operation).
 * The IDs on VMs/VMSS stay, dangling, as in Azure.
 */
export interface DeleteIdentityAction {
  readonly kind: 'delete-identity';
  readonly identityId: string;
}

export type FaultAction = LatencyAction | StatusAction | DropAction | HangAction | DeleteIdentityAction;

/** A rule as given by a test. Unset selectors match everything (except `admin`, see matchFault). */
export interface FaultRuleInput {
  /** Default: generated. */
  readonly id?: string;
  /** `arm`, `entra`, `imds` (every node), `imds:<node>`, `admin`. */
  readonly service?: string;
  /** HTTP method, case-insensitive. */
  readonly method?: string;
  /** Regular expression (case-insensitive, unanchored) tested against the URL path without the query. */
  readonly path?: string;
  /** Regular expression (case-insensitive, unanchored) tested against the raw query string (without `?`). */
  readonly query?: string;
  /** How many requests the rule applies to; default unlimited. */
  readonly times?: number;
  readonly action: FaultAction;
}

/** A rule as stored and listed. */
export interface FaultRule extends FaultRuleInput {
  readonly id: string;
  /** Requests still to be faulted; `null` = unlimited; 0 = exhausted (kept for inspection). */
  remaining: number | null;
  /** Requests this rule has been applied to. */
  hits: number;
}

/** What the request log records about an applied fault. */
export interface AppliedFault {
  readonly ruleId: string;
  readonly kind: FaultAction['kind'];
  readonly status?: number;
  readonly ms?: number;
}
