/**
 * Turns what the Azure SDK throws into the typed errors of ./errors.ts, as pure functions.
 * Two shapes arrive: a `RestError` for an HTTP error response (status, ARM `error.code`, headers),
 * and core-lro's plain `Error("The long-running operation has failed. <code>. <message>")` when an
 * accepted PATCH ends in status `Failed` (azure-protocols.md §3.3) — both map to the same classes.
 * @module
 */
import { parseRetryAfter } from '../lib/backoff.ts';
import {
  ArmAuthenticationError,
  ArmRequestError,
  AuthorizationError,
  ConflictError,
  IdentityOperationError,
  NotFoundError,
  TargetDeletingError,
  ThrottledError,
  type ArmCallContext,
  type ComputeOperation,
  type ThrottleScope,
} from './errors.ts';
import type { ComputeTargetRef } from './provider-id.ts';
import { targetResourceId } from './provider-id.ts';

/** The facts of one failed call, whatever shape the SDK threw. */
export interface ArmFailure {
  /** HTTP status; undefined for transport errors and failed long-running operations. */
  readonly statusCode: number | undefined;
  readonly armCode: string | undefined;
  readonly message: string;
  /** Method of the failing request (a PATCH's poll is a GET). */
  readonly method: string | undefined;
  readonly requestId: string | undefined;
  /** A response header, case-insensitive. */
  readonly header: (name: string) => string | undefined;
  /** Whether no HTTP response was received (connection refused/reset, DNS, timeout). */
  readonly transport: boolean;
  /** The credential could not produce a token (@azure/identity errors). */
  readonly credential: boolean;
}

/** Tunables of {@link classifyArmFailure}. */
export interface ClassifyOptions {
  readonly nowMs: number;
  /** Throttled without a usable Retry-After header. */
  readonly defaultThrottleMs: number;
  /** 409 without Retry-After. */
  readonly conflictRetryMs: number;
  /** When the target is being deleted. */
  readonly deletingRetryMs: number;
}

/** The classified error, plus the throttle to record when it was one. */
export interface ClassifiedFailure {
  readonly error: Error;
  readonly throttle?: { readonly scope: ThrottleScope; readonly retryAfterMs: number };
}

const LRO_FAILED = /^The long-running operation has failed\.\s+(\S+?)\.\s+([\s\S]*)$/;

/** @azure/identity's error names (errors.ts there); they are thrown by the bearer-token policy. */
const CREDENTIAL_ERRORS: ReadonlySet<string> = new Set(['AuthenticationError', 'AggregateAuthenticationError', 'CredentialUnavailableError', 'AuthenticationRequiredError']);

/** Errno-style codes of requests that never got a response (core's `isSystemError`, plus a few). */
const TRANSPORT_CODES: ReadonlySet<string> = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'REQUEST_SEND_ERROR']);

interface RestErrorLike {
  readonly name: string;
  readonly message: string;
  readonly code?: unknown;
  readonly statusCode?: unknown;
  readonly request?: { readonly method?: string; readonly requestId?: string };
  readonly response?: { readonly headers?: { get(name: string): string | undefined } };
}

/**
 * A RestError by shape, not `instanceof`: several copies of core-rest-pipeline / ts-http-runtime can
 * be installed, each with its own class (`isRestError` does the same, by name).
 */
function asRestError(error: unknown): RestErrorLike | undefined {
  if (!(error instanceof Error) || error.name !== 'RestError') return undefined;
  const rest: RestErrorLike = error;
  return rest;
}

/** The facts of `error`, or undefined when it is not an SDK / transport / credential error (e.g. a bug). */
export function armFailureOf(error: unknown): ArmFailure | undefined {
  const rest = asRestError(error);
  if (rest !== undefined) {
    const headers = rest.response?.headers;
    const header = (name: string): string | undefined => headers?.get(name) ?? undefined;
    const statusCode = typeof rest.statusCode === 'number' ? rest.statusCode : undefined;
    const code = typeof rest.code === 'string' ? rest.code : undefined;
    const transport = statusCode === undefined;
    return {
      statusCode,
      // For transport errors `code` is the errno code (ECONNRESET), not an ARM code.
      armCode: transport ? undefined : code,
      message: transport && code !== undefined ? `${code}: ${rest.message}` : rest.message,
      method: rest.request?.method,
      requestId: header('x-ms-request-id') ?? rest.request?.requestId,
      header,
      transport,
      credential: false,
    };
  }
  if (!(error instanceof Error)) return undefined;
  const none = (): undefined => undefined;
  if (CREDENTIAL_ERRORS.has(error.name)) {
    return { statusCode: undefined, armCode: undefined, message: error.message, method: undefined, requestId: undefined, header: none, transport: false, credential: true };
  }
  const lro = LRO_FAILED.exec(error.message);
  if (lro !== null || error.message.startsWith('The long-running operation has failed')) {
    return { statusCode: undefined, armCode: lro?.[1], message: lro?.[2] ?? error.message, method: undefined, requestId: undefined, header: none, transport: false, credential: false };
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && TRANSPORT_CODES.has(code)) {
    return { statusCode: undefined, armCode: undefined, message: `${code}: ${error.message}`, method: undefined, requestId: undefined, header: none, transport: true, credential: false };
  }
  return undefined;
}

/**
 * Retry-After of a response in ms: `x-ms-retry-after-ms` / `retry-after-ms` (milliseconds), else
 * `Retry-After` (seconds or HTTP date). Undefined when none is usable.
 */
export function retryAfterMsOf(header: (name: string) => string | undefined, nowMs: number): number | undefined {
  for (const name of ['x-ms-retry-after-ms', 'retry-after-ms']) {
    const value = header(name)?.trim();
    if (value !== undefined && /^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value));
  }
  return parseRetryAfter(header('retry-after'), nowMs);
}

// Subscription GUID, resource group (letters, digits, `-_.()`), identity name (letters, digits, `-_`).
const IDENTITY_ID = /\/subscriptions\/[\w-]+\/resourcegroups\/[\w.()-]+\/providers\/microsoft\.managedidentity\/userassignedidentities\/[\w-]+/gi;

/**
 * Every user-assigned identity resource ID in an ARM message, lower-cased, first occurrence first.
 * Covers `Resource '<id>' was not found.` inside FailedIdentityOperation and the comma-separated
 * `linked scope(s) '<id>,<id>'` of LinkedAuthorizationFailed (azure-protocols.md §3.2); upstream
 * parsed the same quoted lists to retry without them (aad-pod-identity-behaviour.md §2.6).
 */
export function extractIdentityIds(message: string): string[] {
  const found = new Set<string>();
  for (const match of message.matchAll(IDENTITY_ID)) found.add(match[0].toLowerCase());
  return [...found];
}

const IDENTITY_CODES: ReadonlySet<string> = new Set(['failedidentityoperation', 'linkedauthorizationfailed', 'invalididentityvalues']);
const NOT_FOUND_CODES: ReadonlySet<string> = new Set(['resourcenotfound', 'resourcegroupnotfound', 'subscriptionnotfound', 'notfound']);

/** `vm_get` etc. */
export function operationName(kind: ComputeTargetRef['kind'], action: 'get' | 'update'): ComputeOperation {
  return `${kind}_${action}`;
}

export function callContext(target: ComputeTargetRef, operation: ComputeOperation, failure?: ArmFailure): ArmCallContext {
  return {
    target,
    resourceId: targetResourceId(target),
    operation,
    statusCode: failure?.statusCode,
    armCode: failure?.armCode,
    armMessage: failure?.message,
    requestId: failure?.requestId,
  };
}

/** Whether a failed call was a read: GETs are, including a PATCH's operation polls. */
function scopeOf(failure: ArmFailure, operation: ComputeOperation): ThrottleScope {
  if (failure.method !== undefined) return failure.method.toUpperCase() === 'GET' || failure.method.toUpperCase() === 'HEAD' ? 'read' : 'write';
  return operation.endsWith('_get') ? 'read' : 'write';
}

/**
 * The typed error for `failure` of `operation` on `target`. Throttling (429, or 503 with a retry
 * header) also says which kind of call to hold back and for how long; 429
 * `RetryableErrorDueToAnotherOperation` is a lock on this one resource, not subscription throttling,
 * so it is a {@link ConflictError} (ARM throttling docs, azure-protocols.md §3.2).
 */
export function classifyArmFailure(failure: ArmFailure, target: ComputeTargetRef, operation: ComputeOperation, options: ClassifyOptions, cause?: unknown): ClassifiedFailure {
  const context = callContext(target, operation, failure);
  const withCause = cause === undefined ? undefined : { cause };
  const code = failure.armCode?.toLowerCase() ?? '';
  const status = failure.statusCode;
  const retryAfterMs = retryAfterMsOf(failure.header, options.nowMs);

  if (failure.credential) return { error: new ArmAuthenticationError(context, withCause) };
  if (status === 429 && code === 'retryableerrorduetoanotheroperation') {
    return { error: new ConflictError(context, retryAfterMs ?? options.conflictRetryMs, withCause) };
  }
  if (status === 429 || (status === 503 && retryAfterMs !== undefined)) {
    const scope = scopeOf(failure, operation);
    const delay = retryAfterMs ?? options.defaultThrottleMs;
    return { error: new ThrottledError(context, scope, delay, true, withCause), throttle: { scope, retryAfterMs: delay } };
  }
  // 409 OperationNotAllowed "... since it is marked for deletion" (azure-protocols.md §3.2).
  if ((status === 409 || status === undefined) && code === 'operationnotallowed' && /marked for deletion/i.test(failure.message)) {
    return { error: new TargetDeletingError(context, options.deletingRetryMs, withCause) };
  }
  if (status === 409 || (status === undefined && code === 'conflict')) {
    return { error: new ConflictError(context, retryAfterMs ?? options.conflictRetryMs, withCause) };
  }
  if (IDENTITY_CODES.has(code)) return { error: new IdentityOperationError(context, extractIdentityIds(failure.message), withCause) };
  if (status === 403 || code === 'authorizationfailed') return { error: new AuthorizationError(context, withCause) };
  if (status === 401) return { error: new ArmAuthenticationError(context, withCause) };
  if (status === 404 || (status === undefined && NOT_FOUND_CODES.has(code))) return { error: new NotFoundError(context, withCause) };
  return { error: new ArmRequestError(context, withCause) };
}
