/**
 * Compute's async-operation status resource and the headers that point clients at it
 * (azure-protocols.md §3.3): `Azure-AsyncOperation` (absolute URL on this server), `Retry-After`
 * (configured per operation kind, ≥ 1 s), and for DELETE also `Location` with `monitor=true`. Each poll
 * is counted on the operation ({@link ../poll-log.ts}).
 * @module
 */
import type { ArmContext, ArmRequest, ArmResponse } from '../context.ts';
import { methodNotAllowed, operationNotFound } from '../errors.ts';
import type { LroKind, OperationRecord } from '../operations.ts';
import type { ArmRoute } from '../paths.ts';

/** The `Retry-After` of an operation kind when the deps name none. */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/**
 * `Retry-After` for an operation of `kind`: the configured whole seconds, never below 1. Real ARM never
 * sends 0; go-autorest (upstream MIC) polls again at once on a 0, @azure/core-lro ignores it.
 */
export function retryAfterSeconds(context: Pick<ArmContext, 'deps'>, kind: LroKind): string {
  const configured = context.deps.lroRetryAfterSeconds?.[kind] ?? DEFAULT_RETRY_AFTER_SECONDS;
  return String(Number.isFinite(configured) ? Math.max(1, Math.round(configured)) : DEFAULT_RETRY_AFTER_SECONDS);
}

export function operationUrl(operation: OperationRecord, request: Pick<ArmRequest, 'apiVersion' | 'baseUrl'>): string {
  const apiVersion = request.apiVersion;
  return `${request.baseUrl}/subscriptions/${operation.subscriptionId}/providers/Microsoft.Compute/locations/${operation.location}/operations/${operation.id}?api-version=${encodeURIComponent(apiVersion)}`;
}

/** Headers of a PUT/PATCH (200/201) or DELETE (202) that started `operation`. */
export function asyncOperationHeaders(
  context: ArmContext,
  operation: OperationRecord,
  request: Pick<ArmRequest, 'apiVersion' | 'baseUrl'>,
  withLocation = false,
): Record<string, string> {
  const url = operationUrl(operation, request);
  return {
    'azure-asyncoperation': url,
    'azure-asyncnotification': 'Enabled',
    'retry-after': retryAfterSeconds(context, operation.kind),
    ...(withLocation ? { location: `${url}&monitor=true` } : {}),
  };
}

/** The operation-status body: `{startTime, endTime?, status, name, error?}`. */
export function renderOperation(operation: OperationRecord): Record<string, unknown> {
  return {
    startTime: new Date(operation.startTime).toISOString(),
    ...(operation.endTime !== undefined ? { endTime: new Date(operation.endTime).toISOString() } : {}),
    status: operation.status,
    name: operation.id,
    ...(operation.error !== undefined ? { error: operation.error.toBody().error } : {}),
  };
}

/** `GET /subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/operations/{id}` */
export function handleOperation(context: ArmContext, route: Extract<ArmRoute, { kind: 'computeOperation' }>, request: ArmRequest): ArmResponse {
  if (request.method !== 'GET') throw methodNotAllowed(request.method);
  const operation = context.operations.get(route.operationId);
  if (operation?.subscriptionId.toLowerCase() !== route.subscriptionId.toLowerCase()) throw operationNotFound(route.operationId);
  operation.polls++;
  if (operation.status === 'InProgress') operation.pollsInProgress++;
  const headers: Record<string, string> = operation.status === 'InProgress' ? { 'retry-after': retryAfterSeconds(context, operation.kind) } : {};
  return { status: 200, body: renderOperation(operation), headers };
}
