/**
 * The `status.status` values of an AzureAssignedIdentity.
 * @module
 */

/** Life-cycle states MIC writes into an AzureAssignedIdentity's `status.status`. */
export const AssignedIdentityState = {
  /** The AAI exists; the identity is not yet confirmed on the node's VM or VMSS. */
  Created: 'Created',
  /** The identity is on the VM or VMSS (or needs no cloud work, for service principals). */
  Assigned: 'Assigned',
  /** The identity was removed from the node; the AAI is about to be deleted. */
  Unassigned: 'Unassigned',
} as const;

/** One of `Created`, `Assigned`, `Unassigned`. */
export type AssignedIdentityState = (typeof AssignedIdentityState)[keyof typeof AssignedIdentityState];

/** All states, in life-cycle order. */
export const ASSIGNED_IDENTITY_STATES: readonly AssignedIdentityState[] = Object.values(AssignedIdentityState);

/** True when `value` is one of the three states (the empty legacy value is not a state). */
export function isAssignedIdentityState(value: unknown): value is AssignedIdentityState {
  return ASSIGNED_IDENTITY_STATES.some((state) => state === value);
}

/**
 * The state an AAI's `status.status` means: empty or missing counts as `Assigned`, because AAIs
 * written before states existed are live assignments (upstream NMI treats them so).
 */
export function effectiveAssignedState(status: AssignedIdentityState | '' | undefined): AssignedIdentityState {
  return status === undefined || status === '' ? AssignedIdentityState.Assigned : status;
}
