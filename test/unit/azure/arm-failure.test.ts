import { RestError } from '@azure/arm-compute';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { armFailureOf, classifyArmFailure, extractIdentityIds, retryAfterMsOf, type ClassifyOptions } from '../../../src/azure/arm-failure.ts';
import {
  ArmAuthenticationError,
  ArmRequestError,
  AuthorizationError,
  ConflictError,
  IdentityOperationError,
  isComputeError,
  NotFoundError,
  TargetDeletingError,
  ThrottledError,
} from '../../../src/azure/errors.ts';
import type { ComputeTargetRef } from '../../../src/azure/provider-id.ts';
import { RetryAfterError } from '../../../src/lib/errors.ts';

const NOW = Date.parse('2026-05-01T12:00:00Z');
const OPTIONS: ClassifyOptions = { nowMs: NOW, defaultThrottleMs: 10_000, conflictRetryMs: 5_000, deletingRetryMs: 30_000 };
const SUB = '8c3f1a52-6d1e-4e0b-9a57-2b7f0c9d4e11';
const VMSS: ComputeTargetRef = { kind: 'vmss', subscriptionId: SUB, resourceGroup: 'MC_rg', name: 'aks-pool-vmss' };
const VMSS_ID = `/subscriptions/${SUB}/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss`;
const uami = (name: string, group = 'rg-identities'): string => `/subscriptions/${SUB}/resourceGroups/${group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

/** Simulator / real ARM texts (azure-protocols.md §3.2; src/sim/arm/errors.ts). */
const notFoundMessage = (id: string): string =>
  `Identity operation for resource '${VMSS_ID}' failed with error 'Failed to perform resource identity operation. Status: 'BadRequest'. Response: '{"error":{"code":"BadRequest","message":"Resource '${id.toLowerCase()}' was not found."}}'.'.`;
const linkedMessage = (ids: readonly string[]): string =>
  `The client 'app' with object id 'oid' has permission to perform action 'Microsoft.Compute/virtualMachineScaleSets/write' on scope '${VMSS_ID}'; however, it does not have permission to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '${ids.join(',')}' or the linked scope(s) are invalid.`;

function restError(status: number | undefined, code: string | undefined, message: string, headers: Record<string, string> = {}, method = 'PATCH'): RestError {
  const request = createPipelineRequest({ url: `https://management.azure.com${VMSS_ID}?api-version=2026-04-01`, method: method as 'PATCH' });
  return new RestError(message, {
    ...(status !== undefined ? { statusCode: status } : {}),
    ...(code !== undefined ? { code } : {}),
    request,
    ...(status !== undefined ? { response: { status, headers: createHttpHeaders({ 'x-ms-request-id': 'req-1', ...headers }), request } } : {}),
  });
}

function classify(error: unknown, operation: 'vmss_get' | 'vmss_update' = 'vmss_update') {
  const failure = armFailureOf(error);
  if (failure === undefined) throw new Error('not an ARM failure');
  return classifyArmFailure(failure, VMSS, operation, OPTIONS, error);
}

describe('extractIdentityIds', () => {
  it.each([
    ['FailedIdentityOperation: one identity not found', notFoundMessage(uami('Ghost')), [uami('ghost').toLowerCase()]],
    ['LinkedAuthorizationFailed: one linked scope', linkedMessage([uami('app-b')]), [uami('app-b').toLowerCase()]],
    ['LinkedAuthorizationFailed: several, comma-separated (upstream parsed these)', linkedMessage([uami('a'), uami('B_2', 'Other.RG(1)')]), [uami('a').toLowerCase(), uami('b_2', 'other.rg(1)').toLowerCase()]],
    ['repeated and differently cased IDs once', `${uami('x')} and ${uami('X').toUpperCase()}`, [uami('x').toLowerCase()]],
    ['real ARM spelling "resourcegroups"', `'/subscriptions/${SUB}/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1'`, [`/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.managedidentity/userassignedidentities/id1`]],
    ['none: InvalidIdentityValues', "The 'UserAssignedIdentities' property keys should only be empty json objects, null or the resource exisiting property.", []],
    ['none: the target itself is not an identity', `Resource '${VMSS_ID}' failed`, []],
    ['none: too many changes', `Identity operation for resource '${VMSS_ID}' failed with error 'User Assigned Identities Number '151' Assign exceed limit '150' in one request.'`, []],
  ])('%s', (_name, message, ids) => {
    expect(extractIdentityIds(message)).toEqual(ids);
  });
});

describe('retryAfterMsOf', () => {
  const headers = (values: Record<string, string>) => (name: string) => values[name];
  it.each([
    [{ 'retry-after': '2' }, 2_000],
    [{ 'retry-after': '0' }, 0],
    [{ 'retry-after': new Date(NOW + 7_000).toUTCString() }, 7_000],
    [{ 'retry-after': new Date(NOW - 7_000).toUTCString() }, 0],
    [{ 'x-ms-retry-after-ms': '1500', 'retry-after': '9' }, 1_500],
    [{ 'retry-after-ms': '250' }, 250],
    [{ 'retry-after': 'soon' }, undefined],
    [{}, undefined],
  ])('%j → %s', (values, expected) => {
    expect(retryAfterMsOf(headers(values), NOW)).toBe(expected);
  });
});

describe('classifyArmFailure', () => {
  it('429 with Retry-After: ThrottledError, and a throttle of that kind to record', () => {
    const write = classify(restError(429, 'TooManyRequests', 'too many', { 'retry-after': '2' }));
    expect(write.error).toBeInstanceOf(ThrottledError);
    expect(write.error).toBeInstanceOf(RetryAfterError);
    expect(write.error).toMatchObject({ code: 'PI_ARM_THROTTLED', retryAfterMs: 2_000, scope: 'write', requestSent: true });
    expect(write.throttle).toEqual({ scope: 'write', retryAfterMs: 2_000 });
    // A PATCH's operation poll is a GET: reads are throttled, whatever the operation.
    expect(classify(restError(429, 'TooManyRequests', 'x', { 'retry-after': '3' }, 'GET')).throttle).toEqual({ scope: 'read', retryAfterMs: 3_000 });
  });

  it('429 without a usable header: the default delay; 503 with Retry-After is throttling, without it it is not', () => {
    expect(classify(restError(429, 'TooManyRequests', 'x')).throttle).toEqual({ scope: 'write', retryAfterMs: 10_000 });
    expect(classify(restError(503, 'ServiceUnavailable', 'busy', { 'retry-after': '4' }, 'GET'), 'vmss_get').error).toMatchObject({ retryAfterMs: 4_000, scope: 'read' });
    const plain503 = classify(restError(503, 'ServiceUnavailable', 'busy'));
    expect(plain503.error).toBeInstanceOf(ArmRequestError);
    expect(plain503.throttle).toBeUndefined();
  });

  it.each([
    ['409 Conflict', restError(409, 'Conflict', 'The request failed due to conflict with a concurrent request.'), ConflictError, { retryAfterMs: 5_000, code: 'PI_ARM_CONFLICT' }],
    ['409 with Retry-After', restError(409, 'Conflict', 'x', { 'retry-after': '12' }), ConflictError, { retryAfterMs: 12_000 }],
    ['429 RetryableErrorDueToAnotherOperation (a lock, not throttling)', restError(429, 'RetryableErrorDueToAnotherOperation', 'x', { 'retry-after': '3' }), ConflictError, { retryAfterMs: 3_000 }],
    [
      '409 OperationNotAllowed marked for deletion',
      restError(409, 'OperationNotAllowed', "Operation 'Update Virtual Machine Scale Set' is not allowed on Virtual Machine Scale Set 'aks-pool-vmss' since it is marked for deletion."),
      TargetDeletingError,
      { retryAfterMs: 30_000, code: 'PI_ARM_TARGET_DELETING' },
    ],
    ['409 OperationNotAllowed otherwise', restError(409, 'OperationNotAllowed', 'The VM is deallocated.'), ConflictError, {}],
    ['400 FailedIdentityOperation', restError(400, 'FailedIdentityOperation', notFoundMessage(uami('Ghost'))), IdentityOperationError, { identityIds: [uami('ghost').toLowerCase()], code: 'PI_ARM_IDENTITY_OPERATION' }],
    ['403 LinkedAuthorizationFailed', restError(403, 'LinkedAuthorizationFailed', linkedMessage([uami('a'), uami('b')])), IdentityOperationError, { identityIds: [uami('a').toLowerCase(), uami('b').toLowerCase()] }],
    ['400 InvalidIdentityValues', restError(400, 'InvalidIdentityValues', 'keys should only be empty json objects'), IdentityOperationError, { identityIds: [] }],
    ['403 AuthorizationFailed', restError(403, 'AuthorizationFailed', "does not have authorization to perform action 'Microsoft.Compute/virtualMachineScaleSets/write'"), AuthorizationError, { code: 'PI_ARM_AUTHORIZATION' }],
    ['401 InvalidAuthenticationToken', restError(401, 'InvalidAuthenticationToken', 'The access token is invalid.'), ArmAuthenticationError, { code: 'PI_ARM_AUTHENTICATION' }],
    ['404 ResourceNotFound', restError(404, 'ResourceNotFound', "The Resource 'Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss' was not found."), NotFoundError, { code: 'PI_ARM_NOT_FOUND' }],
    ['404 ResourceGroupNotFound', restError(404, 'ResourceGroupNotFound', "Resource group 'MC_rg' could not be found."), NotFoundError, {}],
    ['500 after retries', restError(500, 'InternalExecutionError', 'An internal execution error occurred.'), ArmRequestError, { code: 'PI_ARM_REQUEST' }],
    ['400 MissingIdentityIds (our bug)', restError(400, 'MissingIdentityIds', 'The identity ids must not be null or empty'), ArmRequestError, {}],
    ['connection reset', restError(undefined, 'ECONNRESET', 'socket hang up'), ArmRequestError, {}],
  ])('%s', (_name, error, type, fields) => {
    const classified = classify(error);
    expect(classified.error).toBeInstanceOf(type);
    expect(classified.error).toMatchObject(fields);
    expect(classified.throttle).toBeUndefined();
    expect(isComputeError(classified.error)).toBe(true);
    expect(classified.error.cause).toBe(error);
  });

  it('gives every error its context: resource, operation, status, ARM code and request ID', () => {
    const { error } = classify(restError(403, 'LinkedAuthorizationFailed', linkedMessage([uami('a')])));
    expect(error).toMatchObject({
      context: { target: VMSS, resourceId: VMSS_ID, operation: 'vmss_update', statusCode: 403, armCode: 'LinkedAuthorizationFailed', requestId: 'req-1', armMessage: linkedMessage([uami('a')]) },
    });
    expect(error.message).toBe(`vmss_update ${VMSS_ID}: identities refused [${uami('a').toLowerCase()}]: 403 LinkedAuthorizationFailed: ${linkedMessage([uami('a')])} (request id req-1)`);
  });

  it('reads failed long-running operations from the poller message (no status)', () => {
    const lro = new Error(`The long-running operation has failed. FailedIdentityOperation. ${notFoundMessage(uami('gone'))}`);
    const { error } = classify(lro);
    expect(error).toBeInstanceOf(IdentityOperationError);
    expect(error).toMatchObject({ identityIds: [uami('gone').toLowerCase()], context: { statusCode: undefined, armCode: 'FailedIdentityOperation', armMessage: notFoundMessage(uami('gone')) } });
    expect(classify(new Error('The long-running operation has failed. OperationNotAllowed. The VM is marked for deletion.')).error).toBeInstanceOf(TargetDeletingError);
    expect(classify(new Error('The long-running operation has failed. Conflict. busy')).error).toBeInstanceOf(ConflictError);
    expect(classify(new Error('The long-running operation has failed. ResourceNotFound. gone')).error).toBeInstanceOf(NotFoundError);
    expect(classify(new Error('The long-running operation has failed')).error).toBeInstanceOf(ArmRequestError);
  });

  it('turns credential failures into ArmAuthenticationError', () => {
    expect(classify(new AuthenticationError(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' })).error).toBeInstanceOf(ArmAuthenticationError);
    expect(classify(new CredentialUnavailableError('ManagedIdentityCredential: IMDS unreachable')).error).toBeInstanceOf(ArmAuthenticationError);
  });

  it('leaves aborts and programming errors alone', () => {
    const abort = new Error('The operation was aborted.');
    abort.name = 'AbortError';
    expect(armFailureOf(abort)).toBeUndefined();
    expect(armFailureOf(new TypeError('x is undefined'))).toBeUndefined();
    expect(armFailureOf('text')).toBeUndefined();
  });
});
