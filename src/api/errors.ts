/**
 * The error readers throw for objects that cannot be understood.
 * @module
 */

/** Identifies the object a problem was found in (name and namespace as far as they are known). */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
}

/** `AzureIdentity default/foo`, `AzureIdentity foo` or `AzureIdentity (unnamed)`. */
export function describeObject(ref: ObjectRef): string {
  if (ref.name === undefined || ref.name === '') return `${ref.kind} (unnamed)`;
  return ref.namespace === undefined || ref.namespace === '' ? `${ref.kind} ${ref.name}` : `${ref.kind} ${ref.namespace}/${ref.name}`;
}

/**
 * A custom resource that cannot be read: a field has the wrong JSON type or an impossible value.
 * `field` is the path as the object spells it (e.g. `spec.ClientPassword.Name`), empty for the
 * object as a whole. Callers usually log it and skip the object; it is never worth retrying.
 */
export class InvalidResourceError extends Error {
  /** Stable code for matching, independent of the message text. */
  readonly code = 'PI_INVALID_RESOURCE';
  /** The object that failed to read. */
  readonly object: ObjectRef;
  /** Dotted path of the offending field, as spelled in the object; '' for the whole object. */
  readonly field: string;
  /** What is wrong, without the object and field (e.g. `must be a string`). */
  readonly problem: string;

  constructor(object: ObjectRef, field: string, problem: string) {
    super(field === '' ? `${describeObject(object)}: ${problem}` : `${describeObject(object)}: ${field}: ${problem}`);
    this.name = 'InvalidResourceError';
    this.object = object;
    this.field = field;
    this.problem = problem;
  }
}
