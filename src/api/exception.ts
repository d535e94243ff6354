/**
 * Reading AzurePodIdentityException objects.
 * @module
 */
import { readEnvelope } from './envelope.ts';
import { withoutUndefined } from './fields.ts';
import { API_VERSION, AZURE_POD_IDENTITY_EXCEPTION } from './names.ts';
import type { AzurePodIdentityException } from './types.ts';

/**
 * Reads raw JSON from the API server as an AzurePodIdentityException, accepting older casings of
 * `podLabels` (label keys themselves are exact); omitted labels read as `{}`. Throws
 * `InvalidResourceError` naming the object and the field.
 */
export function readAzurePodIdentityException(raw: unknown): AzurePodIdentityException {
  const { metadata, spec, status } = readEnvelope(raw, AZURE_POD_IDENTITY_EXCEPTION.kind);
  const exception: AzurePodIdentityException = {
    apiVersion: API_VERSION,
    kind: AZURE_POD_IDENTITY_EXCEPTION.kind,
    metadata,
    spec: { podLabels: spec.stringMap('podLabels') ?? {} },
  };
  if (status !== undefined) exception.status = withoutUndefined({ status: status.string('status') });
  return exception;
}
