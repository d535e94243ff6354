/**
 * Reads the parts every custom resource shares: kind, metadata, spec and status.
 * @module
 */
import { InvalidResourceError, type ObjectRef } from './errors.ts';
import { isJsonObject, jsonType, ObjectReader } from './fields.ts';
import type { PodIdentityKind } from './names.ts';
import type { ObjectMeta } from './types.ts';

/** Where an object sits when it is embedded in another (an AAI's `spec.azureIdentityRef`). */
export interface EmbeddedAt {
  /** The enclosing object, named in errors. */
  readonly owner: ObjectRef;
  /** Path of the embedded object inside the owner, e.g. `spec.azureIdentityRef`. */
  readonly path: string;
}

/** The common parts of a custom resource, ready for the kind-specific reader. */
export interface Envelope {
  /** Metadata, with timestamps as `Date` as the V1ObjectMeta type promises. */
  readonly metadata: ObjectMeta;
  /** The spec's fields (an empty object when the spec is omitted, as Go's zero value). */
  readonly spec: ObjectReader;
  /** The status's fields, when there is a status. */
  readonly status: ObjectReader | undefined;
}

/**
 * Checks that `raw` is an object of `kind` and returns its parts. Errors name the object (or,
 * for embedded objects, the enclosing one) and the field.
 */
export function readEnvelope(raw: unknown, kind: PodIdentityKind, embeddedAt?: EmbeddedAt): Envelope {
  const self = selfRef(raw, kind);
  const owner = embeddedAt?.owner ?? self;
  const path = embeddedAt?.path ?? '';
  if (!isJsonObject(raw)) throw new InvalidResourceError(owner, path, `must be a JSON object, got ${jsonType(raw)}`);
  const root = new ObjectReader(owner, path, raw);
  const actualKind = root.string('kind');
  if (actualKind !== undefined && actualKind !== kind) root.fail('kind', `must be ${kind}, got ${JSON.stringify(actualKind)}`);
  const metadata = readMetadata(root.child('metadata'));
  const spec = root.child('spec') ?? new ObjectReader(owner, root.pathOf('spec'), {});
  return { metadata, spec, status: root.child('status') };
}

/** The object's own kind/namespace/name, as far as they can be seen before validation. */
function selfRef(raw: unknown, kind: string): ObjectRef {
  const metadata = isJsonObject(raw) ? raw['metadata'] : undefined;
  if (!isJsonObject(metadata)) return { kind };
  const { name, namespace } = metadata;
  return {
    kind,
    name: typeof name === 'string' ? name : undefined,
    namespace: typeof namespace === 'string' ? namespace : undefined,
  };
}

/**
 * Checks the metadata fields pod-identity reads and converts timestamps to `Date` (as client-node
 * types them); everything else is kept as received so that objects can be written back unchanged.
 */
function readMetadata(reader: ObjectReader | undefined): ObjectMeta {
  if (reader === undefined) return {};
  const { object } = reader;
  for (const key of ['name', 'namespace', 'generateName', 'resourceVersion', 'uid'] as const) {
    const value = object[key];
    if (value != null && typeof value !== 'string') reader.fail(key, `must be a string, got ${jsonType(value)}`);
  }
  for (const key of ['labels', 'annotations'] as const) {
    const value = object[key];
    if (value == null) continue;
    if (isJsonObject(value)) new ObjectReader(reader.owner, reader.pathOf(key), value).toStringMap();
    else reader.fail(key, `must be an object, got ${jsonType(value)}`);
  }
  const finalizers = object['finalizers'];
  if (finalizers != null && !(Array.isArray(finalizers) && finalizers.every((item) => typeof item === 'string'))) {
    reader.fail('finalizers', 'must be a list of strings');
  }
  const { creationTimestamp, deletionTimestamp, ...rest } = object;
  const metadata: ObjectMeta = rest;
  const created = readTimestamp(reader, 'creationTimestamp', creationTimestamp);
  if (created !== undefined) metadata.creationTimestamp = created;
  const deleted = readTimestamp(reader, 'deletionTimestamp', deletionTimestamp);
  if (deleted !== undefined) metadata.deletionTimestamp = deleted;
  return metadata;
}

/** A metadata timestamp as a Date (RFC 3339 string on the wire), undefined when absent or null. */
function readTimestamp(reader: ObjectReader, key: string, value: unknown): Date | undefined {
  if (value == null || value instanceof Date) return value ?? undefined;
  const date = typeof value === 'string' ? new Date(value) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) return reader.fail(key, 'must be an RFC 3339 timestamp');
  return date;
}
