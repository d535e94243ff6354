/**
 * Label, annotation, finalizer and condition names that pods and custom resources carry.
 *
 * Shared with the archived Go implementation (see the behaviour reference §1.6); users' manifests
 * and both implementations' controllers depend on the exact strings.
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
