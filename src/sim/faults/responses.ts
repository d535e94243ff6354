/**
 * The error response an injected `status` fault sends, in the shape each service really uses, so the
 * SDKs parse it as they would parse Azure's (azure-protocols.md §1.3, §3.2, §3.6, §5.3).
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { StatusAction } from './types.ts';

export interface FaultResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

const ARM_CODES: Readonly<Record<number, { code: string; message: string }>> = {
  400: { code: 'BadRequest', message: 'The request is invalid (injected fault).' },
  401: { code: 'AuthenticationFailed', message: 'Authentication failed (injected fault).' },
  403: { code: 'AuthorizationFailed', message: 'The client does not have authorization to perform this action (injected fault).' },
  404: { code: 'ResourceNotFound', message: 'The resource was not found (injected fault).' },
  409: {
    code: 'OperationNotAllowed',
    message: 'Operation is not allowed since another operation is in progress on this resource (injected fault).',
  },
  429: { code: 'TooManyRequests', message: 'The request is being throttled as the limit has been reached for operation type (injected fault).' },
  500: { code: 'InternalServerError', message: 'Encountered internal server error (injected fault).' },
  502: { code: 'BadGateway', message: 'The gateway did not receive a response (injected fault).' },
  503: { code: 'ServiceUnavailable', message: 'The service is unavailable (injected fault).' },
  504: { code: 'GatewayTimeout', message: 'The gateway did not receive a response within the specified time period (injected fault).' },
};

const ENTRA_CODES: Readonly<Record<number, { error: string; aadsts: number; message: string }>> = {
  400: { error: 'invalid_request', aadsts: 900144, message: 'The request body is invalid (injected fault).' },
  401: { error: 'invalid_client', aadsts: 7000215, message: 'Invalid client secret provided (injected fault).' },
  429: { error: 'temporarily_unavailable', aadsts: 90055, message: 'TenantThrottlingThreshold: too many requests for this tenant (injected fault).' },
  500: { error: 'server_error', aadsts: 90033, message: 'A transient error has occurred. Please try again (injected fault).' },
  503: { error: 'temporarily_unavailable', aadsts: 90033, message: 'The service is temporarily unavailable (injected fault).' },
};

const IMDS_CODES: Readonly<Record<number, { error: string; message: string }>> = {
  400: { error: 'invalid_request', message: 'Bad request (injected fault)' },
  404: { error: 'not_found', message: 'IMDS is updating (injected fault)' },
  410: { error: 'gone', message: 'IMDS is upgrading, retry within 70 s (injected fault)' },
  429: { error: 'too_many_requests', message: 'Too many requests (injected fault)' },
  500: { error: 'unknown', message: 'Failed to retrieve token from the Active directory (injected fault)' },
};

/** ARM's per-method throttle counter: reads for GET/HEAD, deletes for DELETE, writes otherwise. */
function rateLimitKind(method: string): 'reads' | 'writes' | 'deletes' {
  const upper = method.toUpperCase();
  if (upper === 'GET' || upper === 'HEAD') return 'reads';
  if (upper === 'DELETE') return 'deletes';
  return 'writes';
}

function armResponse(action: StatusAction, method: string, headers: Record<string, string>): unknown {
  const defaults = ARM_CODES[action.status] ?? { code: action.status >= 500 ? 'InternalServerError' : 'BadRequest', message: `Injected fault ${action.status}.` };
  headers['x-ms-request-id'] = randomUUID();
  headers['x-ms-correlation-request-id'] = randomUUID();
  if (action.status === 429) {
    const kind = rateLimitKind(method);
    headers[`x-ms-ratelimit-remaining-subscription-${kind}`] = '0';
    headers[`x-ms-ratelimit-remaining-subscription-global-${kind}`] = '0';
    headers[`x-ms-ratelimit-remaining-tenant-${kind === 'deletes' ? 'writes' : kind}`] = '0';
  }
  return { error: { code: action.code ?? defaults.code, message: action.message ?? defaults.message } };
}

function entraResponse(action: StatusAction): unknown {
  const defaults = ENTRA_CODES[action.status] ?? { error: action.status >= 500 ? 'server_error' : 'invalid_request', aadsts: 90033, message: `Injected fault ${action.status}.` };
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const description = action.message ?? `AADSTS${defaults.aadsts}: ${defaults.message}`;
  return {
    error: action.code ?? defaults.error,
    error_description: `${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [defaults.aadsts],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${defaults.aadsts}`,
  };
}

function imdsResponse(action: StatusAction): unknown {
  const defaults = IMDS_CODES[action.status] ?? { error: action.status >= 500 ? 'unknown' : 'invalid_request', message: `Injected fault ${action.status}` };
  return { error: action.code ?? defaults.error, error_description: action.message ?? defaults.message };
}

/** The response for a `status` fault on `service` (`arm`, `entra`, `imds:<node>`, `admin`). */
export function faultResponse(service: string, method: string, action: StatusAction): FaultResponse {
  const headers: Record<string, string> = {};
  const retryAfter = action.retryAfterSeconds ?? (action.status === 429 ? 1 : undefined);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  let body: unknown;
  if (service === 'arm') body = armResponse(action, method, headers);
  else if (service === 'entra') body = entraResponse(action);
  else if (service.startsWith('imds')) body = imdsResponse(action);
  else body = { error: action.code ?? 'InjectedFault', message: action.message ?? `Injected fault ${action.status}` };
  return { status: action.status, headers, body: action.body ?? body };
}
