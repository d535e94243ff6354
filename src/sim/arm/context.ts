/**
 * What ARM handlers receive and return. Handlers are plain functions of ({@link ArmContext},
 * route, {@link ArmRequest}) → {@link ArmResponse}; they throw {@link ArmError} for error answers,
 * and the plugin turns both into HTTP.
 * @module
 */
import type { Logger } from 'pino';
import type { Clock } from '../../lib/clock.ts';
import type { SimStore } from '../state/store.ts';
import type { TokenIssuer } from '../tokens/issuer.ts';
import type { Caller } from './auth.ts';
import { authorizationFailed, resourceGroupNotFound, subscriptionNotFound } from './errors.ts';
import type { LroKind, OperationTracker } from './operations.ts';
import type { LroPollLog } from './poll-log.ts';
import { isAuthorized } from './rbac.ts';

/**
 * Dependencies of the ARM routes. `lroDurationMs`, `lroRetryAfterSeconds` and `enforceRbac` may change
 * while the simulator runs (admin API): they are read on every request.
 */
export interface ArmDeps {
  store: SimStore;
  issuer: TokenIssuer;
  lroDurationMs: { vm: number; vmss: number };
  /** `Retry-After` seconds per operation kind (read per request); default 1 each. */
  lroRetryAfterSeconds?: Readonly<Record<LroKind, number>>;
  /** Where started operations are followed for their poll counts (admin `GET /requests/operations`). */
  pollLog?: LroPollLog;
  enforceRbac: boolean;
  /** Base URL clients reach this server at (for absolute `Azure-AsyncOperation` URLs). */
  publicUrl: () => string;
  /**
   * Further base URLs this ARM is served at (other names and advertised addresses of the listener).
   * With `publicUrl` they are ARM's own endpoints, accepted as token audiences as a private cloud's ARM does.
   */
  endpoints?: () => readonly string[];
  logger: Logger;
}

export interface ArmContext {
  readonly deps: ArmDeps;
  readonly store: SimStore;
  readonly clock: Clock;
  readonly operations: OperationTracker;
}

export interface ArmRequest {
  readonly method: string;
  /** Path and query as received (for messages). */
  readonly url: string;
  readonly query: URLSearchParams;
  /** The request's `api-version`, echoed into operation URLs. */
  readonly apiVersion: string;
  /**
   * `https://<Host header>`: where this client reached the server (through a forwarder it may be another
   * address than the listener's), the base of operation URLs, as real ARM answers on the host called.
   */
  readonly baseUrl: string;
  /** Parsed JSON body; undefined when there was none. */
  readonly body: unknown;
  readonly caller: Caller;
}

export interface ArmResponse {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** `200 {"value": [...]}`: ARM's list shape (no paging: the simulator returns everything at once). */
export function listResponse(value: readonly unknown[]): ArmResponse {
  return { status: 200, body: { value } };
}

/** Throws `SubscriptionNotFound` unless the store knows the subscription. */
export function requireSubscription(context: ArmContext, subscriptionId: string): void {
  if (!context.store.hasSubscription(subscriptionId)) throw subscriptionNotFound(subscriptionId);
}

/** Throws `SubscriptionNotFound` / `ResourceGroupNotFound` unless both exist. */
export function requireResourceGroup(context: ArmContext, subscriptionId: string, resourceGroup: string): void {
  requireSubscription(context, subscriptionId);
  if (!context.store.hasResourceGroup(subscriptionId, resourceGroup)) throw resourceGroupNotFound(resourceGroup);
}

/** Whether RBAC lets the caller do `action` on `scope` (always true while RBAC is not enforced). */
export function mayPerform(context: ArmContext, caller: Caller, action: string, scope: string): boolean {
  return !context.deps.enforceRbac || isAuthorized(context.store.listRoleAssignments(), caller.objectId, action, scope);
}

/** Throws 403 `AuthorizationFailed` unless the caller may do `action` on `scope`. */
export function authorize(context: ArmContext, caller: Caller, action: string, scope: string): void {
  if (!mayPerform(context, caller, action, scope)) throw authorizationFailed(caller, action, scope);
}
