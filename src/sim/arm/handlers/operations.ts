/**
 * Compute's async-operation status resource and the headers that point clients at it
 * (azure-protocols.md §3.3): `Azure-AsyncOperation` (absolute URL on this server), `Retry-After`,
 * and for DELETE also `Location` with `monitor=true`.
 * @module
 */
import type { ArmContext, ArmRequest, ArmResponse } from '../context.ts';
import { methodNotAllowed, operationNotFound } from '../errors.ts';
import type { OperationRecord } from '../operations.ts';
import type { ArmRoute } from '../paths.ts';

/**
 * `Retry-After` in whole seconds: 1 while at least a second remains, else 0 — core-lro then keeps the
 * client's own `updateIntervalInMs` (it ignores a zero), so short simulated operations poll fast.
 */
export function retryAfterSeconds(remainingMs: number): string {
  return remainingMs >= 1000 ? '1' : '0';
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
    'retry-after': retryAfterSeconds(context.operations.remainingMs(operation)),
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
  const headers: Record<string, string> = operation.status === 'InProgress' ? { 'retry-after': retryAfterSeconds(context.operations.remainingMs(operation)) } : {};
  return { status: 200, body: renderOperation(operation), headers };
}
