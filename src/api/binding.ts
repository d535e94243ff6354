/**
 * Reading AzureIdentityBinding objects.
 * @module
 */
import { readEnvelope, type EmbeddedAt } from './envelope.ts';
import { withoutUndefined } from './fields.ts';
import { API_VERSION, AZURE_IDENTITY_BINDING } from './names.ts';
import type { AzureIdentityBinding } from './types.ts';

/**
 * Reads raw JSON from the API server as an AzureIdentityBinding, mapping older field casings
 * (`AzureIdentity`, `Selector`, …) to the current names (current names win); omitted strings
 * read as ''. Throws `InvalidResourceError` naming the object and the field.
 */
export function readAzureIdentityBinding(raw: unknown, embeddedAt?: EmbeddedAt): AzureIdentityBinding {
  const { metadata, spec, status } = readEnvelope(raw, AZURE_IDENTITY_BINDING.kind, embeddedAt);
  const binding: AzureIdentityBinding = {
    apiVersion: API_VERSION,
    kind: AZURE_IDENTITY_BINDING.kind,
    metadata,
    spec: withoutUndefined({
      azureIdentity: spec.string('azureIdentity') ?? '',
      selector: spec.string('selector') ?? '',
      weight: spec.integer('weight'),
    }),
  };
  if (status !== undefined) binding.status = withoutUndefined({ availableReplicas: status.integer('availableReplicas') });
  return binding;
}
