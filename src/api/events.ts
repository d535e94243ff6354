/**
 * Kubernetes Event reasons and source MIC uses; operators alert on these exact strings.
 * @module
 */

/** Event reasons (exact upstream strings, lower case with spaces). */
export const EventReason = {
  /** Normal: an identity was assigned for a pod (on the AAI's pod). */
  BindingApplied: 'binding applied',
  /** Warning: assigning an identity failed. */
  BindingApplyError: 'binding apply error',
  /** Normal: an identity was removed for a pod. */
  BindingRemoved: 'binding removed',
  /** Warning: removing an identity failed. */
  BindingRemoveError: 'binding remove error',
  /** Warning: writing an AzureAssignedIdentity's status failed. */
  StatusUpdateError: 'status update error',
} as const;

/** One of the event reason strings. */
export type EventReason = (typeof EventReason)[keyof typeof EventReason];

/** `source.component` of the Events MIC records. */
export const EVENT_SOURCE_COMPONENT = 'aadpodidentity.k8s.io';
