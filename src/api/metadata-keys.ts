/**
 * Label, annotation, finalizer and condition names that pods and custom resources carry.
 *
 * Shared with the archived Go implementation (see the behaviour reference §1.6); users' manifests
 * and both implementations' controllers depend on the exact strings. The three AzureAssignedIdentity
 * annotations at the end are this MIC's own records (upstream's MIC ignores them and keeps them).
 * @module
 */

/** Pod label whose value is compared, by exact string equality, with a binding's `spec.selector`. */
export const BINDING_LABEL = 'aadpodidbinding';

/** AzureAssignedIdentity label naming the pod's node; NMI watches only its own node's AAIs by it. */
export const NODE_NAME_LABEL = 'nodename';

/** Finalizer MIC puts on every AzureAssignedIdentity it creates. */
export const ASSIGNED_IDENTITY_FINALIZER = 'azureassignedidentity.finalizers.aadpodidentity.k8s.io';

/** AzureIdentity annotation that makes one identity namespaced (key compared exactly, capital B). */
export const BEHAVIOR_ANNOTATION = 'aadpodidentity.k8s.io/Behavior';

/** The only value of {@link BEHAVIOR_ANNOTATION} that has an effect (compared exactly). */
export const BEHAVIOR_NAMESPACED = 'namespaced';

/** Pod readiness-gate condition type that MIC sets True once the pod's identity works (opt-in). */
export const IDENTITY_READY_CONDITION = 'aadpodidentity.k8s.io/identity-ready';

/** AzureAssignedIdentity annotation: the identity was on the target before MIC needed it, so MIC never removes it. */
export const PREEXISTING_ANNOTATION = 'aadpodidentity.k8s.io/identity-preexisting';

/**
 * AzureAssignedIdentity annotation: the VM or scale set the identity was assigned to, so that the AAIs
 * of a node that is gone (scale-in) still lead MIC to the scale set to remove identities nobody needs.
 */
export const TARGET_ANNOTATION = 'aadpodidentity.k8s.io/target';

/** AzureAssignedIdentity annotation: when MIC marked it Unassigned (RFC 3339); the grace period runs from here. */
export const UNASSIGNED_AT_ANNOTATION = 'aadpodidentity.k8s.io/unassigned-at';
