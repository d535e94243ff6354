/**
 * What the Azure commands (`identity create`, `node-identity enable`) say when an ARM call fails:
 * which call, ARM's code and message, and for a missing permission the built-in role that grants it
 * and where. Pure: takes what the SDK threw (through src/azure/arm-failure.ts) and the caller's
 * description of the call.
 * @module
 */
import { armFailureOf } from '../../azure/arm-failure.ts';

/** What the failing call was doing. */
export interface ArmCallDescription {
  /** e.g. `create user-assigned identity /subscriptions/…/uai` */
  readonly action: string;
  /** Built-in roles that grant the permission (first is suggested), e.g. `['Managed Identity Contributor', 'Contributor']`. */
  readonly neededRoles: readonly string[];
  /** Where the role is needed. */
  readonly scope: string;
}

/** An Azure failure a command reports (exit 1). `kind` lets callers and tests tell them apart. */
export class AzureCommandError extends Error {
  readonly kind: 'authorization' | 'authentication' | 'not-found' | 'principal-not-found' | 'request';
  readonly armCode: string | undefined;
  readonly statusCode: number | undefined;

  constructor(kind: AzureCommandError['kind'], message: string, details: { armCode?: string | undefined; statusCode?: number | undefined }, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AzureCommandError';
    this.kind = kind;
    this.armCode = details.armCode;
    this.statusCode = details.statusCode;
  }
}

/** The ARM error code of `error` (e.g. `RoleAssignmentExists`), if it is an SDK error. */
export function armCodeOf(error: unknown): string | undefined {
  return armFailureOf(error)?.armCode;
}

export function statusOf(error: unknown): number | undefined {
  return armFailureOf(error)?.statusCode;
}

function orList(items: readonly string[]): string {
  const quoted = items.map((item) => `"${item}"`);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1] ?? ''}`;
}

/**
 * The error to report for `error` thrown by the call `call`. Errors that are not from the SDK (bugs,
 * aborts) are returned unchanged.
 */
export function explainArmError(error: unknown, call: ArmCallDescription): unknown {
  const failure = armFailureOf(error);
  if (failure === undefined) return error;
  const code = failure.armCode;
  const status = failure.statusCode;
  const facts = [status, code].filter((part) => part !== undefined).join(' ');
  const arm = `${facts === '' ? '' : `${facts}: `}${failure.message}${failure.requestId === undefined ? '' : ` (request id ${failure.requestId})`}`;
  const lowerCode = code?.toLowerCase() ?? '';
  if (failure.credential || status === 401) {
    return new AzureCommandError(
      'authentication',
      `cannot ${call.action}: authentication failed: ${failure.message}\n  sign in (az login), or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET for DefaultAzureCredential, or give --cloudconfig with a service principal`,
      { armCode: code, statusCode: status },
      { cause: error },
    );
  }
  if (status === 403 || lowerCode === 'authorizationfailed' || lowerCode === 'linkedauthorizationfailed') {
    return new AzureCommandError(
      'authorization',
      `cannot ${call.action}: not authorized (${arm})\n  the signed-in principal needs the role ${orList(call.neededRoles)} on ${call.scope}`,
      { armCode: code, statusCode: status },
      { cause: error },
    );
  }
  if (lowerCode === 'principalnotfound') {
    return new AzureCommandError('principal-not-found', `cannot ${call.action}: ${arm}`, { armCode: code, statusCode: status }, { cause: error });
  }
  if (status === 404) return new AzureCommandError('not-found', `cannot ${call.action}: not found (${arm})`, { armCode: code, statusCode: status }, { cause: error });
  return new AzureCommandError('request', `cannot ${call.action}: ${arm}`, { armCode: code, statusCode: status }, { cause: error });
}

/** Runs `fn`, turning an SDK failure into an {@link AzureCommandError} that names the call. */
export async function describedCall<T>(call: ArmCallDescription, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw explainArmError(error, call);
  }
}
