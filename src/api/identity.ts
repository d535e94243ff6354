/**
 * Reading AzureIdentity objects, and the namespaced-identity rule.
 * @module
 */
import { readEnvelope, type EmbeddedAt } from './envelope.ts';
import { withoutUndefined, type ObjectReader } from './fields.ts';
import { describeIdentityTypes, IdentityType, isIdentityType } from './identity-type.ts';
import { BEHAVIOR_ANNOTATION, BEHAVIOR_NAMESPACED } from './metadata-keys.ts';
import { API_VERSION, AZURE_IDENTITY } from './names.ts';
import type { AzureIdentity, AzureIdentitySpec, SecretReference } from './types.ts';

/**
 * Reads raw JSON from the API server as an AzureIdentity, mapping older field casings to the
 * current names (current names win) and defaulting an omitted `type` to 0; a numeric-string
 * `type` is accepted. Semantic checks (is the resource ID well formed?) are left to the CRD's
 * rules and to the components. Throws `InvalidResourceError` naming the object and the field.
 */
export function readAzureIdentity(raw: unknown, embeddedAt?: EmbeddedAt): AzureIdentity {
  const { metadata, spec, status } = readEnvelope(raw, AZURE_IDENTITY.kind, embeddedAt);
  const identity: AzureIdentity = {
    apiVersion: API_VERSION,
    kind: AZURE_IDENTITY.kind,
    metadata,
    spec: readSpec(spec),
  };
  if (status !== undefined) identity.status = withoutUndefined({ availableReplicas: status.integer('availableReplicas') });
  return identity;
}

function readSpec(spec: ObjectReader): AzureIdentitySpec {
  return withoutUndefined({
    type: readType(spec),
    resourceID: spec.string('resourceID'),
    clientID: spec.string('clientID'),
    clientPassword: readSecretReference(spec.child('clientPassword')),
    tenantID: spec.string('tenantID'),
    auxiliaryTenantIDs: spec.stringArray('auxiliaryTenantIDs'),
    adResourceID: spec.string('adResourceID'),
    adEndpoint: spec.string('adEndpoint'),
    replicas: spec.integer('replicas'),
  });
}

function readType(spec: ObjectReader): IdentityType {
  const type = spec.integer('type', { numericString: true });
  if (type === undefined) return IdentityType.UserAssignedMSI;
  if (isIdentityType(type)) return type;
  return spec.fail(spec.find('type')?.key ?? 'type', `must be ${describeIdentityTypes()}, got ${type}`);
}

function readSecretReference(reader: ObjectReader | undefined): SecretReference | undefined {
  if (reader === undefined) return undefined;
  return withoutUndefined({ name: reader.string('name'), namespace: reader.string('namespace') });
}

/**
 * True when the identity may only serve pods and bindings of its own namespace: always in
 * forced-namespaced mode, otherwise when annotated `aadpodidentity.k8s.io/Behavior: namespaced`.
 */
export function isNamespacedIdentity(identity: AzureIdentity, forceNamespaced: boolean): boolean {
  return forceNamespaced || identity.metadata.annotations?.[BEHAVIOR_ANNOTATION] === BEHAVIOR_NAMESPACED;
}
