import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AssignedIdentityState, AzureAssignedIdentity } from '../../../src/api/index.ts';
import type { ComputeIdentityClient, TargetIdentityState } from '../../../src/azure/compute-identity-client.ts';
import { ConflictError, IdentityOperationError, type ArmCallContext } from '../../../src/azure/errors.ts';
import type { IdentityPatch } from '../../../src/azure/identity-patch.ts';
import type { ComputeTargetRef } from '../../../src/azure/provider-id.ts';
import { ManualClock } from '../../support/manual-clock.ts';
import type { AssignedIdentityWriter } from '../../../src/mic/assigned-writer.ts';
import { computeDesiredState } from '../../../src/mic/desired.ts';
import { objectKey, type DesiredAssignment } from '../../../src/mic/model.ts';
import { TargetReconciler } from '../../../src/mic/reconcile-target.ts';
import { TargetState } from '../../../src/mic/target-state.ts';
import type { TargetView } from '../../../src/mic/view.ts';
import { WriteTracker } from '../../../src/mic/write-tracker.ts';
import { assignedFrom, binding, identity, identityId, pod, vmssNode } from '../../support/mic-fixtures.ts';

// The target reconciler against fakes: an in-memory AAI store standing in for the API server and
// informer, and a scripted ARM.

const NODE = vmssNode('node-0');
const TARGET = NODE.compute as ComputeTargetRef;
const KEY = 'target';

/** Desired assignments of pods `p<index>` labelled with identity names; names starting `fed` are type 3. */
function desiredFor(labels: string[]): DesiredAssignment[] {
  const names = [...new Set(labels)];
  const state = computeDesiredState(
    {
      pods: labels.map((label, index) => pod(`p${index}`, { label, node: 'node-0' })),
      nodes: new Map([['node-0', NODE]]),
      identities: new Map(names.map((name) => [objectKey('default', name), identity(name, name.startsWith('fed') ? { type: 3 } : {})])),
      bindings: names.map((name) => binding(`${name}-binding`, name, name)),
      assigned: new Map(),
    },
    { forceNamespaced: false },
  );
  return [...state.assignments.values()];
}

type Step = (patch: IdentityPatch) => Error | undefined;

function world(desired: DesiredAssignment[], steps: Step[]) {
  const clock = new ManualClock();
  const aais = new Map<string, AzureAssignedIdentity>();
  let version = 0;
  const store = (assigned: AzureAssignedIdentity): string => {
    const resourceVersion = String(++version);
    aais.set(objectKey(assigned.metadata.namespace ?? '', assigned.metadata.name ?? ''), { ...assigned, metadata: { ...assigned.metadata, resourceVersion } });
    return resourceVersion;
  };
  const writer = {
    write: (entry: DesiredAssignment, _preexisting: boolean, _current: AzureAssignedIdentity | undefined, state: AssignedIdentityState) => Promise.resolve(store(assignedFrom(entry, state))),
    setState: (assigned: AzureAssignedIdentity, state: AssignedIdentityState) => Promise.resolve(store({ ...assigned, status: { ...assigned.status, status: state } })),
    delete: (assigned: AzureAssignedIdentity) => {
      aais.delete(objectKey(assigned.metadata.namespace ?? '', assigned.metadata.name ?? ''));
      return Promise.resolve();
    },
  } as unknown as AssignedIdentityWriter;
  let onTarget: string[] = [];
  const patches: IdentityPatch[] = [];
  /** Targets whose identities were read from ARM, in order. */
  const reads: string[] = [];
  const arm: ComputeIdentityClient = {
    getIdentity: (target) => {
      reads.push(target.name);
      return Promise.resolve<TargetIdentityState>({ identity: { type: onTarget.length > 0 ? 'UserAssigned' : 'None', userAssignedIdentities: onTarget }, provisioningState: 'Succeeded' });
    },
    patchIdentity: (_target, patch) => {
      patches.push(patch);
      const failure = steps.shift()?.(patch);
      if (failure !== undefined) return Promise.reject(failure);
      for (const [id, value] of Object.entries(patch.userAssignedIdentities ?? {})) onTarget = value === null ? onTarget.filter((entry) => entry !== id) : [...onTarget, id];
      return Promise.resolve({ identity: { type: 'UserAssigned', userAssignedIdentities: onTarget }, provisioningState: 'Succeeded' });
    },
  };
  const events: { type: string; message: string }[] = [];
  const view = {
    targetView: (key: string): TargetView => ({
      key,
      target: TARGET,
      nodeNames: ['node-0'],
      desiredOnTarget: desired,
      currentOnTarget: [...aais.values()],
      desiredKeys: new Set(desired.map((entry) => objectKey(entry.namespace, entry.name))),
      nodeMissing: false,
    }),
  };
  const reconciler = new TargetReconciler({
    view,
    writer,
    arm,
    events: {
      record: (_target, type, _reason, message) => {
        events.push({ type, message });
        return Promise.resolve();
      },
    },
    writes: new WriteTracker(),
    state: new TargetState({ identityCacheTtlMs: 30_000 }),
    clock,
    logger: pino({ level: 'silent' }),
    immutable: () => new Set(),
    gracePeriodMs: 0,
    writeConcurrency: 4,
  });
  const states = (): (string | undefined)[] => [...aais.values()].map((entry) => entry.status?.status);
  return { clock, reconciler, patches, reads, events, states };
}

const context: ArmCallContext = { target: TARGET, resourceId: 'vmss', operation: 'vmss_update', statusCode: 409, armCode: 'Conflict', armMessage: 'busy', requestId: undefined };

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the reconcile to fail');
}

describe('TargetReconciler', () => {
  it('sends no ARM write to a target before the Retry-After of its last write, however soon it is reconciled again', async () => {
    const { clock, reconciler, patches, events, states } = world(desiredFor(['a']), [() => new ConflictError(context, 5_000)]);
    const signal = new AbortController().signal;

    expect(await failure(reconciler.reconcile(KEY, signal))).toBeInstanceOf(ConflictError);
    expect(patches).toHaveLength(1);
    expect(states()).toEqual(['Created']);

    // Its own AAI write (or a drift check) queues the target again at once: no second write, no
    // new Warning, and a requeue for when the hold ends rather than a failure (that would grow the backoff).
    await clock.advance(100);
    const warnings = events.length;
    expect(await reconciler.reconcile(KEY, signal)).toEqual({ requeueAfterMs: 4_900 });
    expect(patches).toHaveLength(1);
    expect(events).toHaveLength(warnings);

    await clock.advance(4_900);
    expect(await reconciler.reconcile(KEY, signal)).toBeUndefined();
    expect(patches).toHaveLength(2);
    expect(states()).toEqual(['Assigned']);
  });

  it('assigns federated identities (type 3) at once without reading or writing ARM', async () => {
    const { reconciler, patches, reads, states } = world(desiredFor(['fed', 'fed', 'fed-other']), []);
    expect(await reconciler.reconcile(KEY, new AbortController().signal)).toBeUndefined();
    expect(states()).toEqual(['Assigned', 'Assigned', 'Assigned']);
    expect(reads).toEqual([]);
    expect(patches).toEqual([]);
  });

  it('writes only the type-0 identity to a target whose pods also use a federated one', async () => {
    const { reconciler, patches, states } = world(desiredFor(['a', 'fed']), []);
    expect(await reconciler.reconcile(KEY, new AbortController().signal)).toBeUndefined();
    expect(patches.map((patch) => Object.keys(patch.userAssignedIdentities ?? {}))).toEqual([[identityId('a').toLowerCase()]]);
    expect(states()).toEqual(['Assigned', 'Assigned']);
  });

  it('names the refused identity and ARM’s reason in the Warning Event; the other identity lands', async () => {
    const missing = identityId('b').toLowerCase();
    const refusal = new IdentityOperationError({ ...context, statusCode: 400, armCode: 'FailedIdentityOperation', armMessage: `Resource '${missing}' was not found.` }, [missing]);
    const { reconciler, patches, events, states } = world(desiredFor(['a', 'b']), [() => refusal]);

    expect(String(await failure(reconciler.reconcile(KEY, new AbortController().signal)))).toContain('ARM refused identities');
    expect(patches).toHaveLength(2);
    expect(Object.keys(patches[1]?.userAssignedIdentities ?? {})).toEqual([identityId('a').toLowerCase()]);
    expect(states().sort()).toEqual(['Assigned', 'Created']);
    const warning = events.find((event) => event.type === 'Warning');
    expect(warning?.message).toContain(`ARM refused identity ${missing}`);
    expect(warning?.message).toContain(`FailedIdentityOperation: Resource '${missing}' was not found.`);
  });

  it('does not write a refused identity again before its hold ends, however often the target is reconciled; then retries it and forgives it once it lands', async () => {
    const missing = identityId('b').toLowerCase();
    const refusal = (): IdentityOperationError => new IdentityOperationError({ ...context, statusCode: 400, armCode: 'FailedIdentityOperation', armMessage: `Resource '${missing}' was not found.` }, [missing]);
    // ARM refuses b twice (the first wave, then the retry after the first hold), then accepts it.
    const refuseB: Step = (patch) => (Object.keys(patch.userAssignedIdentities ?? {}).includes(missing) ? refusal() : undefined);
    const { clock, reconciler, patches, events } = world(desiredFor(['a', 'b']), [refuseB, () => undefined, refuseB]);
    const signal = new AbortController().signal;

    expect(String(await failure(reconciler.reconcile(KEY, signal)))).toContain('ARM refused identities');
    expect(patches).toHaveLength(2); // refused wave, then a alone

    // Pod events reconcile the target again and again inside the hold (≤ 2 s): no ARM write for b.
    for (let round = 0; round < 5; round++) {
      await clock.advance(200);
      await reconciler.reconcile(KEY, signal).catch(() => undefined);
    }
    expect(patches).toHaveLength(2);
    // The Warning repeats word for word (so the Event's count goes up rather than piling up Events).
    const warnings = events.filter((event) => event.type === 'Warning').map((event) => event.message);
    expect(warnings.length).toBeGreaterThan(1);
    expect(new Set(warnings).size).toBe(1);

    // After the hold: one retry, refused again → a longer hold (≥ 3.2 s with jitter).
    await clock.advance(1_000);
    await reconciler.reconcile(KEY, signal).catch(() => undefined);
    expect(patches).toHaveLength(3);
    await clock.advance(3_000);
    await reconciler.reconcile(KEY, signal).catch(() => undefined);
    expect(patches).toHaveLength(3);

    // The identity now exists: the next retry after the hold lands it.
    await clock.advance(1_000);
    expect(await reconciler.reconcile(KEY, signal)).toBeUndefined();
    expect(patches).toHaveLength(4);
    expect(Object.keys(patches[3]?.userAssignedIdentities ?? {})).toEqual([missing]);
  });
});
