/**
 * One ARM wave on a target: the plan's identity additions and removals as PATCHes of the identity
 * block (≤150 changes each, ../azure/identity-patch.ts). When ARM refuses named identities (deleted,
 * or MIC may not assign them) the wave is retried once without them, so one bad identity does not
 * block the others; any other failure ends the wave with its error.
 * @module
 */
import type { Logger } from 'pino';
import type { ComputeIdentityClient, TargetIdentityState } from '../azure/compute-identity-client.ts';
import { IdentityOperationError } from '../azure/errors.ts';
import { buildIdentityPatches } from '../azure/identity-patch.ts';
import { targetResourceId, type ComputeTargetRef } from '../azure/provider-id.ts';

/** ARM's refusal of some identities of a wave. */
export interface Refusal {
  /** The identities of the wave ARM named. */
  readonly ids: readonly string[];
  /** ARM's code and message, for the Events. */
  readonly reason: string;
  /** The error's message, for the log. */
  readonly message: string;
}

/** The refusal in `error` of identities being added or removed; undefined when it named none of them. */
export function refusalOf(error: IdentityOperationError, add: readonly string[], remove: readonly string[]): Refusal | undefined {
  const ids = error.identityIds.filter((id) => add.includes(id) || remove.includes(id));
  if (ids.length === 0) return undefined;
  return { ids, reason: error.context.armCode === undefined ? error.message : `${error.context.armCode}: ${error.context.armMessage ?? ''}`, message: error.message };
}

export interface ArmWaveOptions {
  readonly arm: ComputeIdentityClient;
  readonly target: ComputeTargetRef;
  /** ARM's answer about the target before the wave. */
  readonly start: TargetIdentityState;
  /** Lower-cased identity IDs to add and to remove. */
  readonly add: readonly string[];
  readonly remove: readonly string[];
  /** Identities left out of this wave (still held after an earlier refusal). */
  readonly leaveOut: ReadonlySet<string>;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Each state ARM answered a PATCH with. */
  readonly onState: (state: TargetIdentityState) => void;
  /** A PATCH failed: what was known about the target may be stale now. */
  readonly onStale: () => void;
}

export interface ArmWaveResult {
  /** The target's identities as last known (after the last PATCH that succeeded). */
  readonly state: TargetIdentityState;
  /** PATCH requests sent. */
  readonly writes: number;
  /** Identities ARM refused in this wave → its reason. */
  readonly refused: ReadonlyMap<string, string>;
  /** Why the wave did not complete; undefined when it did. */
  readonly error?: unknown;
}

/** Applies the identity changes; refused identities are dropped and the rest retried once. */
export async function applyArmWave(options: ArmWaveOptions): Promise<ArmWaveResult> {
  const { arm, target, signal } = options;
  const refused = new Map<string, string>();
  const left = (id: string): boolean => !options.leaveOut.has(id) && !refused.has(id);
  let state = options.start;
  let writes = 0;
  for (let attempt = 0; attempt < 2; attempt++) {
    const add = options.add.filter(left);
    const remove = options.remove.filter(left);
    try {
      for (const patch of buildIdentityPatches(state.identity, add, remove)) {
        writes++;
        state = await arm.patchIdentity(target, patch, signal);
        options.onState(state);
      }
      return { state, writes, refused };
    } catch (error) {
      // Whatever happened, our picture of the target is stale now.
      options.onStale();
      const refusal = attempt === 0 && error instanceof IdentityOperationError ? refusalOf(error, add, remove) : undefined;
      if (refusal === undefined) return { state, writes, refused, error };
      for (const id of refusal.ids) refused.set(id, refusal.reason);
      options.logger.warn({ target: targetResourceId(target), refused: refusal.ids, err: refusal.message }, 'ARM refused identities; retrying the wave without them');
      state = await arm.getIdentity(target, signal).catch(() => state);
    }
  }
  return { state, writes, refused };
}
