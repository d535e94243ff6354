/**
 * Reads and patches the `identity` block of VMs and VM scale sets through @azure/arm-compute, with
 * the retry timing in our hands: the SDK's own retry policy is replaced by a bounded transient-only
 * one (./transient-retry-policy.ts), throttling becomes {@link ThrottledError} plus a per-subscription
 * read/write gate (./throttle-gate.ts), and every failure is one of the typed errors of ./errors.ts.
 * @module
 */
import type { UserAssignedIdentitiesValue, VirtualMachineIdentity } from '@azure/arm-compute';
import type { HttpClient } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../lib/clock.ts';
import { armFailureOf, callContext, classifyArmFailure, operationName, type ClassifyOptions } from './arm-failure.ts';
import type { ResolvedCloud } from './clouds.ts';
import { TargetDeletingError, ThrottledError, type ComputeOperation, type ThrottleScope } from './errors.ts';
import type { CurrentIdentity, IdentityPatch } from './identity-patch.ts';
import { createComputeManagement, loadComputeOperations, type ComputeManagementContext, type ComputeOperations } from './compute-operations.ts';
import { targetKey, targetResourceId, type ComputeTargetRef } from './provider-id.ts';
import { ThrottleGate } from './throttle-gate.ts';
import { DEFAULT_ARM_REQUEST_TIMEOUT_MS, requestTimeoutPolicy } from './request-timeout-policy.ts';
import { DEFAULT_TRANSIENT_RETRY, transientRetryPolicy, type TransientRetryOptions } from './transient-retry-policy.ts';

export interface TargetIdentityState {
  readonly identity: CurrentIdentity;
  readonly provisioningState: string | undefined;
}

export interface ComputeIdentityClient {
  /** GET the VM / VMSS; NotFoundError when it does not exist. */
  getIdentity(target: ComputeTargetRef, signal?: AbortSignal): Promise<TargetIdentityState>;
  /** PATCH only the identity block and wait for the long-running operation; returns the final state. */
  patchIdentity(target: ComputeTargetRef, patch: IdentityPatch, signal?: AbortSignal): Promise<TargetIdentityState>;
}

/** One ARM operation as seen by the caller (for metrics): a GET, or a PATCH including its long-running operation. */
export interface ComputeOperationReport {
  readonly type: ComputeOperation;
  readonly durationMs: number;
  /** The typed error; a {@link ThrottledError} with `requestSent: false` when the throttle gate refused the call. */
  readonly error?: unknown;
}

export interface ComputeIdentityClientOptions {
  readonly credential: TokenCredential;
  /** ARM endpoint and token scope. */
  readonly cloud: Pick<ResolvedCloud, 'resourceManagerEndpoint' | 'armScope'>;
  /** Extra CA certificates (PEM) to trust for ARM (the simulator's). */
  readonly caPem?: string | undefined;
  /** Prefix of the User-Agent header (upstream: `aad-pod-identity/MIC/<version>/…`). */
  readonly userAgent?: string | undefined;
  readonly clock?: Clock;
  readonly logger: Logger;
  readonly onOperation?: (op: ComputeOperationReport) => void;
  /** Poll interval of long-running operations when ARM sends no Retry-After; default 2000 ms. */
  readonly pollIntervalMs?: number;
  /** Retries of transport errors and 408/5xx; default 2 retries from 1 s, at most 8 s apart. */
  readonly transientRetry?: TransientRetryOptions;
  /** Deadline of each request attempt, LRO polls included; default 30 s, 0 = none. */
  readonly requestTimeoutMs?: number;
  /** Throttled without a usable Retry-After; default 10 s. */
  readonly defaultThrottleMs?: number;
  /** Retry delay of a 409 without Retry-After; default 5 s. */
  readonly conflictRetryMs?: number;
  /** Retry delay after refusing to patch a resource being deleted; default 30 s. */
  readonly deletingRetryMs?: number;
  /**
   * How long a provisioningState read by this client spares the GET that precedes each PATCH (to
   * refuse resources being deleted, as upstream); default 10 s, 0 = always GET first.
   */
  readonly stateFreshnessMs?: number;
  /** Replaces the HTTP transport (tests). */
  readonly httpClient?: HttpClient;
}

/** The SDK pipeline's default retry policy (core-rest-pipeline `defaultRetryPolicyName`). */
const SDK_RETRY_POLICY_NAME = 'defaultRetryPolicy';

/** A compute resource as the SDK returns it (VirtualMachine and VirtualMachineScaleSet share this shape). */
interface ComputeResourceView {
  readonly identity?: { readonly type?: string; readonly userAssignedIdentities?: Record<string, unknown> };
  readonly provisioningState?: string;
}

function stateOf(resource: ComputeResourceView): TargetIdentityState {
  return {
    identity: { type: resource.identity?.type, userAssignedIdentities: Object.keys(resource.identity?.userAssignedIdentities ?? {}) },
    provisioningState: resource.provisioningState,
  };
}

/**
 * The PATCH body's identity. `null` values mean "remove" and the SDK's serialiser passes them
 * through unchanged (azure-protocols.md §3.2, verified); its types only lack them.
 */
function sdkIdentity(patch: IdentityPatch): VirtualMachineIdentity {
  return {
    type: patch.type,
    ...(patch.userAssignedIdentities !== undefined ? { userAssignedIdentities: patch.userAssignedIdentities as Record<string, UserAssignedIdentitiesValue> } : {}),
  };
}

function isDeleting(provisioningState: string | undefined): boolean {
  return provisioningState?.toLowerCase() === 'deleting';
}

interface ObservedState {
  readonly provisioningState: string | undefined;
  readonly atMs: number;
}

class ArmComputeIdentityClient implements ComputeIdentityClient {
  private readonly options: ComputeIdentityClientOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly gate: ThrottleGate;
  private readonly classify: Omit<ClassifyOptions, 'nowMs'>;
  private readonly stateFreshnessMs: number;
  private readonly clients = new Map<string, ComputeManagementContext>();
  private readonly operations: Promise<ComputeOperations>;
  /** provisioningState last read per target (targetKey). */
  private readonly observed = new Map<string, ObservedState>();

  constructor(options: ComputeIdentityClientOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.gate = new ThrottleGate(this.clock);
    this.classify = {
      defaultThrottleMs: options.defaultThrottleMs ?? 10_000,
      conflictRetryMs: options.conflictRetryMs ?? 5_000,
      deletingRetryMs: options.deletingRetryMs ?? 30_000,
    };
    this.stateFreshnessMs = options.stateFreshnessMs ?? 10_000;
    this.operations = loadComputeOperations();
    // Awaited by every call; this only keeps an early failure from being reported as unhandled.
    this.operations.catch(() => undefined);
  }

  /** One SDK client context per subscription (the SDK binds it at creation). */
  private client(subscriptionId: string): ComputeManagementContext {
    const key = subscriptionId.toLowerCase();
    const existing = this.clients.get(key);
    if (existing !== undefined) return existing;
    const { cloud, caPem, userAgent, httpClient } = this.options;
    const client = createComputeManagement(this.options.credential, subscriptionId, {
      endpoint: cloud.resourceManagerEndpoint,
      credentials: { scopes: [cloud.armScope] },
      ...(caPem !== undefined ? { tlsOptions: { ca: caPem } } : {}),
      ...(userAgent !== undefined ? { userAgentOptions: { userAgentPrefix: userAgent } } : {}),
      ...(httpClient !== undefined ? { httpClient } : {}),
    });
    const removed = client.pipeline.removePolicy({ name: SDK_RETRY_POLICY_NAME });
    if (removed.length !== 1) throw new Error(`@azure/arm-compute pipeline: expected one '${SDK_RETRY_POLICY_NAME}' to replace, found ${removed.length}`);
    client.pipeline.addPolicy(transientRetryPolicy(this.options.transientRetry ?? DEFAULT_TRANSIENT_RETRY, this.clock), { phase: 'Retry' });
    // Inside the retry loop, so each attempt gets its own deadline.
    client.pipeline.addPolicy(requestTimeoutPolicy(this.options.requestTimeoutMs ?? DEFAULT_ARM_REQUEST_TIMEOUT_MS, this.clock), { afterPhase: 'Retry' });
    this.clients.set(key, client);
    return client;
  }

  async getIdentity(target: ComputeTargetRef, signal?: AbortSignal): Promise<TargetIdentityState> {
    const operation = operationName(target.kind, 'get');
    return this.call(target, operation, 'read', async () => {
      const client = this.client(target.subscriptionId);
      const operations = await this.operations;
      const resource: ComputeResourceView =
        target.kind === 'vm'
          ? await operations.virtualMachines.get(client, target.resourceGroup, target.name, { abortSignal: signal })
          : await operations.virtualMachineScaleSets.get(client, target.resourceGroup, target.name, { abortSignal: signal });
      return stateOf(resource);
    });
  }

  async patchIdentity(target: ComputeTargetRef, patch: IdentityPatch, signal?: AbortSignal): Promise<TargetIdentityState> {
    const operation = operationName(target.kind, 'update');
    // Fail fast before spending a read on a write that may not go out anyway.
    this.throwIfGated(target, operation, 'write');
    const provisioningState = this.freshProvisioningState(target) ?? (await this.getIdentity(target, signal)).provisioningState;
    if (isDeleting(provisioningState)) {
      throw new TargetDeletingError({ ...callContext(target, operation), armMessage: `provisioningState is ${provisioningState}` }, this.classify.deletingRetryMs);
    }
    return this.call(target, operation, 'write', async () => {
      const client = this.client(target.subscriptionId);
      const operations = await this.operations;
      const body = { identity: sdkIdentity(patch) };
      const pollOptions = { abortSignal: signal, updateIntervalInMs: this.options.pollIntervalMs ?? 2_000 };
      const resource: ComputeResourceView =
        target.kind === 'vm'
          ? await operations.virtualMachines.update(client, target.resourceGroup, target.name, body, pollOptions)
          : await operations.virtualMachineScaleSets.update(client, target.resourceGroup, target.name, body, pollOptions);
      return stateOf(resource);
    });
  }

  /** provisioningState this client read recently enough to trust, if any. */
  private freshProvisioningState(target: ComputeTargetRef): string | undefined {
    const seen = this.observed.get(targetKey(target));
    if (seen === undefined || this.clock.now() - seen.atMs > this.stateFreshnessMs) return undefined;
    // An undefined state is not a fresh answer: read again.
    return seen.provisioningState;
  }

  private throwIfGated(target: ComputeTargetRef, operation: ComputeOperation, scope: ThrottleScope): void {
    const remainingMs = this.gate.remainingMs(target.subscriptionId, scope);
    if (remainingMs <= 0) return;
    const error = new ThrottledError(callContext(target, operation), scope, remainingMs, false);
    this.options.onOperation?.({ type: operation, durationMs: 0, error });
    this.logger.debug({ operation, resourceId: targetResourceId(target), scope, retryAfterMs: remainingMs }, 'ARM call held back by throttle gate');
    throw error;
  }

  /** Runs one ARM operation: gate check, timing, report, typed errors. */
  private async call(target: ComputeTargetRef, operation: ComputeOperation, scope: ThrottleScope, run: () => Promise<TargetIdentityState>): Promise<TargetIdentityState> {
    this.throwIfGated(target, operation, scope);
    const started = this.clock.now();
    const resourceId = targetResourceId(target);
    try {
      const state = await run();
      const durationMs = this.clock.now() - started;
      this.observed.set(targetKey(target), { provisioningState: state.provisioningState, atMs: this.clock.now() });
      this.options.onOperation?.({ type: operation, durationMs });
      this.logger.debug({ operation, resourceId, durationMs, provisioningState: state.provisioningState }, 'ARM compute call succeeded');
      return state;
    } catch (thrown) {
      const durationMs = this.clock.now() - started;
      this.observed.delete(targetKey(target));
      const error = this.typedError(thrown, target, operation);
      this.options.onOperation?.({ type: operation, durationMs, error });
      throw error;
    }
  }

  private typedError(thrown: unknown, target: ComputeTargetRef, operation: ComputeOperation): unknown {
    const failure = armFailureOf(thrown);
    // Aborts and programming errors pass through unchanged.
    if (failure === undefined) return thrown;
    const classified = classifyArmFailure(failure, target, operation, { ...this.classify, nowMs: this.clock.now() }, thrown);
    if (classified.throttle !== undefined) {
      this.gate.close(target.subscriptionId, classified.throttle.scope, classified.throttle.retryAfterMs);
      this.logger.warn(
        { operation, resourceId: targetResourceId(target), scope: classified.throttle.scope, retryAfterMs: classified.throttle.retryAfterMs, requestId: failure.requestId },
        'ARM throttled: holding back calls of this kind for the subscription',
      );
    }
    return classified.error;
  }
}

/** A {@link ComputeIdentityClient} over @azure/arm-compute. Clients for each subscription are made on first use. */
export function createComputeIdentityClient(options: ComputeIdentityClientOptions): ComputeIdentityClient {
  return new ArmComputeIdentityClient(options);
}
