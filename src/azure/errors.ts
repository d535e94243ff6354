/**
 * What can go wrong when reading or changing the identities of a VM / scale set, as types. Every
 * error carries an {@link ArmCallContext} (which resource, which operation, ARM's status, code and
 * request ID) — never a token. How MIC is expected to react:
 *
 * | error                     | base              | meaning / reaction                                   |
 * |---------------------------|-------------------|------------------------------------------------------|
 * | {@link ThrottledError}    | RetryAfterError   | 429 (or 503 + Retry-After); no call of that kind before `retryAfterMs` |
 * | {@link ConflictError}     | RetryAfterError   | 409: another operation runs on the resource; retry soon |
 * | {@link TargetDeletingError} | RetryAfterError | provisioningState Deleting: not patched; retry slowly until the node goes |
 * | {@link IdentityOperationError} | PodIdentityError | 400/403 about identities; drop `identityIds`, retry the rest |
 * | {@link AuthorizationError} | PodIdentityError | 403 AuthorizationFailed: MIC lacks a role; retry slowly |
 * | {@link ArmAuthenticationError} | PodIdentityError | 401, or no token could be obtained |
 * | {@link NotFoundError}     | PodIdentityError  | 404: no such VM / scale set (or group, subscription) |
 * | {@link ArmRequestError}   | PodIdentityError  | anything else (5xx after retries, network); back off |
 * @module
 */
import { PodIdentityError, RetryAfterError } from '../lib/errors.ts';
import type { ComputeTargetRef } from './provider-id.ts';

/** The ARM calls the compute identity client makes (also the `type` of its operation reports). */
export type ComputeOperation = 'vm_get' | 'vm_update' | 'vmss_get' | 'vmss_update';

/** Reads (GET, including LRO polls) and writes (PATCH) are throttled separately by ARM. */
export type ThrottleScope = 'read' | 'write';

/** Which call failed, and what ARM said. */
export interface ArmCallContext {
  readonly target: ComputeTargetRef;
  /** ARM ID of the VM / scale set. */
  readonly resourceId: string;
  readonly operation: ComputeOperation;
  /** HTTP status; undefined when no response was received or the long-running operation failed. */
  readonly statusCode: number | undefined;
  /** ARM `error.code`, e.g. `LinkedAuthorizationFailed`. */
  readonly armCode: string | undefined;
  /** ARM `error.message` (or the poller's / transport's message). */
  readonly armMessage: string | undefined;
  /** `x-ms-request-id` of the failing response (what Azure support asks for), else the client request ID. */
  readonly requestId: string | undefined;
}

/** Every error of this module. */
export interface ComputeError extends PodIdentityError {
  readonly context: ArmCallContext;
}

export function isComputeError(error: unknown): error is ComputeError {
  return error instanceof PodIdentityError && 'context' in error && typeof (error as { context: unknown }).context === 'object';
}

/** `vmss_update /subscriptions/…/aks-pool: 409 Conflict: <message> (request id …)` */
export function describeCall(context: ArmCallContext, summary?: string): string {
  const status = [context.statusCode, context.armCode].filter((part) => part !== undefined).join(' ');
  const parts = [`${context.operation} ${context.resourceId}`];
  if (summary !== undefined) parts.push(summary);
  if (status !== '') parts.push(status);
  if (context.armMessage !== undefined && context.armMessage !== '') parts.push(context.armMessage);
  const text = parts.join(': ');
  return context.requestId === undefined ? text : `${text} (request id ${context.requestId})`;
}

/**
 * 429 (or 503 with Retry-After). `requestSent` is false when the client refused the call itself
 * because an earlier 429's Retry-After has not passed yet (the throttle gate).
 */
export class ThrottledError extends RetryAfterError implements ComputeError {
  readonly context: ArmCallContext;
  readonly scope: ThrottleScope;
  readonly requestSent: boolean;

  constructor(context: ArmCallContext, scope: ThrottleScope, retryAfterMs: number, requestSent: boolean, options?: ErrorOptions) {
    const summary = requestSent
      ? `throttled (${scope}s), retry after ${retryAfterMs} ms`
      : `not sent: ${scope}s throttled for subscription ${context.target.subscriptionId}, retry after ${retryAfterMs} ms`;
    // ARM's (or the gate's, from ARM's) window: honoured as is, never stretched by backoff.
    super(describeCall(context, summary), retryAfterMs, { ...options, code: 'PI_ARM_THROTTLED', exact: true });
    this.context = context;
    this.scope = scope;
    this.requestSent = requestSent;
  }
}

/** 409: another operation is in progress on the resource (or a similar transient state conflict). */
export class ConflictError extends RetryAfterError implements ComputeError {
  readonly context: ArmCallContext;

  constructor(context: ArmCallContext, retryAfterMs: number, options?: ErrorOptions) {
    super(describeCall(context, 'conflict'), retryAfterMs, { ...options, code: 'PI_ARM_CONFLICT' });
    this.context = context;
  }
}

/** The VM / scale set is being deleted: identities are not changed (upstream refused too). */
export class TargetDeletingError extends RetryAfterError implements ComputeError {
  readonly context: ArmCallContext;

  constructor(context: ArmCallContext, retryAfterMs: number, options?: ErrorOptions) {
    super(describeCall(context, 'not patched: the resource is being deleted'), retryAfterMs, { ...options, code: 'PI_ARM_TARGET_DELETING' });
    this.context = context;
  }
}

/**
 * ARM refused identities: 400 `FailedIdentityOperation` (e.g. an identity does not exist, or too many
 * changes), 400 `InvalidIdentityValues`, 403 `LinkedAuthorizationFailed` (no assign permission on
 * them). `identityIds` are the user-assigned identity IDs ARM named, lower-cased — possibly none.
 */
export class IdentityOperationError extends PodIdentityError implements ComputeError {
  readonly context: ArmCallContext;
  readonly identityIds: readonly string[];

  constructor(context: ArmCallContext, identityIds: readonly string[], options?: ErrorOptions) {
    super('PI_ARM_IDENTITY_OPERATION', describeCall(context, identityIds.length === 0 ? 'identities refused' : `identities refused [${identityIds.join(', ')}]`), options);
    this.context = context;
    this.identityIds = identityIds;
  }
}

/** Base of the non-retry-after ARM failures: a code, a one-word summary, and the call's context. */
abstract class ArmCallError extends PodIdentityError implements ComputeError {
  readonly context: ArmCallContext;

  protected constructor(code: string, summary: string, context: ArmCallContext, options?: ErrorOptions) {
    super(code, describeCall(context, summary), options);
    this.context = context;
  }
}

/** 403 `AuthorizationFailed` (MIC lacks e.g. Virtual Machine Contributor on the node resource group). */
export class AuthorizationError extends ArmCallError {
  constructor(context: ArmCallContext, options?: ErrorOptions) {
    super('PI_ARM_AUTHORIZATION', 'not authorized', context, options);
  }
}

/** 401 from ARM, or the credential could not get a token (wrong secret, IMDS unreachable, …). */
export class ArmAuthenticationError extends ArmCallError {
  constructor(context: ArmCallContext, options?: ErrorOptions) {
    super('PI_ARM_AUTHENTICATION', 'authentication failed', context, options);
  }
}

/** 404: the VM / scale set (or its resource group or subscription) does not exist. */
export class NotFoundError extends ArmCallError {
  constructor(context: ArmCallContext, options?: ErrorOptions) {
    super('PI_ARM_NOT_FOUND', 'not found', context, options);
  }
}

/** Any other failure: 5xx after the client's transient retries, network errors, unexpected 4xx. */
export class ArmRequestError extends ArmCallError {
  constructor(context: ArmCallContext, options?: ErrorOptions) {
    super('PI_ARM_REQUEST', 'failed', context, options);
  }
}
