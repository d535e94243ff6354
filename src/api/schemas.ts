/**
 * The structural OpenAPI schemas of the four CRDs: the current field names of upstream's v1 API,
 * the declared legacy spellings beside them, and the validation rules.
 * @module
 */
import type { JsonSchema, ValidationRuleManifest } from './crd-manifest-types.ts';
import { OBJECT_NAME_MAX_LENGTH } from './formats.ts';
import {
  BINDING_SPEC_SPELLINGS,
  EXCEPTION_SPEC_SPELLINGS,
  IDENTITY_SPEC_SPELLINGS,
  SECRET_REFERENCE_SPELLINGS,
  type FieldSpellings,
} from './legacy-spellings.ts';
import { BINDING_LABEL } from './metadata-keys.ts';
import type { PodIdentityKind } from './names.ts';
import { RESOURCE_ID_MAX_LENGTH } from './resource-id.ts';
import { rulesFor } from './validation-rules.ts';

/** Longest client ID or tenant ID the schema accepts; bounds the cost of the format rules. */
const ID_MAX_LENGTH = 256;

const string = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', description, ...extra });
const int32 = (description: string, extra: JsonSchema = {}): JsonSchema => ({
  type: 'integer',
  description,
  format: 'int32',
  ...extra,
});

/**
 * The `metadata` object upstream's generated schemas have inside spec and status (Go embedding). Go
 * clients send it as `{creationTimestamp: null}`; its fields are kept so that such writes pass even
 * under strict field validation (kubectl's default).
 */
const EMBEDDED_METADATA_QUIRK: JsonSchema = {
  type: 'object',
  'x-kubernetes-preserve-unknown-fields': true,
  description: 'Unused. Present because upstream objects carry an empty metadata here.',
};

/** `schema` under the field's current name, then under each declared legacy spelling. */
function withLegacySpellings(field: FieldSpellings, schema: JsonSchema): Record<string, JsonSchema> {
  const entries = field.legacy.map((spelling): [string, JsonSchema] => [
    spelling,
    { ...schema, description: `Older spelling of ${field.current}; prefer ${field.current}.` },
  ]);
  return Object.fromEntries([[field.current, schema], ...entries]);
}

/** The `x-kubernetes-validations` of a kind's spec, or nothing when it has no rules. */
function validations(kind: PodIdentityKind): JsonSchema {
  const rules = rulesFor(kind).map(
    ({ rule, message, fieldPath, reason }): ValidationRuleManifest => ({ rule, message, fieldPath, reason }),
  );
  return rules.length === 0 ? {} : { 'x-kubernetes-validations': rules };
}

/** A spec node: keeps fields it does not declare, so any casing of an older field survives. */
function specSchema(kind: PodIdentityKind, description: string, properties: Record<string, JsonSchema>): JsonSchema {
  return {
    type: 'object',
    description,
    'x-kubernetes-preserve-unknown-fields': true,
    properties: { metadata: EMBEDDED_METADATA_QUIRK, ...properties },
    ...validations(kind),
  };
}

/** A whole object's schema around its spec and status. */
function objectSchema(kind: PodIdentityKind, description: string, spec: JsonSchema, status: JsonSchema): JsonSchema {
  return {
    type: 'object',
    description,
    properties: {
      apiVersion: string('Versioned schema of this object: aadpodidentity.k8s.io/v1.'),
      kind: string(`${kind}.`),
      metadata: { type: 'object' },
      spec,
      status,
    },
  };
}

const identity = IDENTITY_SPEC_SPELLINGS;
const secret = SECRET_REFERENCE_SPELLINGS;

const secretReference: JsonSchema = {
  type: 'object',
  description: 'Secret holding the credential: for type 1 its single value (use key clientSecret); for type 2 the keys certificate (PKCS#12) and password.',
  'x-kubernetes-preserve-unknown-fields': true,
  properties: {
    ...withLegacySpellings(secret.name, string('Name of the Secret.')),
    ...withLegacySpellings(secret.namespace, string('Namespace of the Secret.')),
  },
};

/** Schema of an AzureIdentity. */
export const AZURE_IDENTITY_SCHEMA: JsonSchema = objectSchema(
  'AzureIdentity',
  'An Azure identity pods may use: a user-assigned managed identity (type 0), a service principal (types 1 and 2) or a federated identity (type 3). Pods get it through an AzureIdentityBinding.',
  specSchema('AzureIdentity', 'Which Azure identity, and for service principals how to authenticate.', {
    ...withLegacySpellings(
      identity.type,
      { type: 'integer', description: '0 user-assigned managed identity (default), 1 service principal with client secret, 2 service principal with certificate, 3 federated identity (NMI presents its service-account token).' },
    ),
    ...withLegacySpellings(
      identity.resourceID,
      string(
        'Type 0 (optional for type 3): resource ID of the user-assigned identity, /subscriptions/<subscription>/resourcegroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>.',
        { maxLength: RESOURCE_ID_MAX_LENGTH },
      ),
    ),
    ...withLegacySpellings(
      identity.clientID,
      string('Client ID (a GUID) of the managed identity or the service principal.', { maxLength: ID_MAX_LENGTH }),
    ),
    ...withLegacySpellings(identity.clientPassword, secretReference),
    ...withLegacySpellings(
      identity.tenantID,
      string("Types 1, 2 and 3: the tenant of the service principal or managed identity, as an ID (GUID) or domain name.", { maxLength: ID_MAX_LENGTH }),
    ),
    auxiliaryTenantIDs: {
      type: 'array',
      description: 'Type 1: further tenants to get tokens for (multi-tenant service principals).',
      nullable: true,
      items: { type: 'string' },
    },
    adResourceID: string('Declared by aad-pod-identity; not used.'),
    adEndpoint: string('Types 1, 2 and 3: Entra ID authority host; default https://login.microsoftonline.com/.'),
    replicas: int32('Declared by aad-pod-identity; not used.', { nullable: true }),
  }),
  {
    type: 'object',
    description: 'Not written by pod-identity.',
    properties: { metadata: EMBEDDED_METADATA_QUIRK, availableReplicas: int32('Not used.') },
  },
);

const binding = BINDING_SPEC_SPELLINGS;

/** Schema of an AzureIdentityBinding. */
export const AZURE_IDENTITY_BINDING_SCHEMA: JsonSchema = objectSchema(
  'AzureIdentityBinding',
  `Lets pods labelled ${BINDING_LABEL}: <selector> use an AzureIdentity of the binding's namespace.`,
  specSchema('AzureIdentityBinding', 'Which identity, for which pods.', {
    ...withLegacySpellings(
      binding.azureIdentity,
      string("Name of an AzureIdentity in the binding's namespace.", { maxLength: OBJECT_NAME_MAX_LENGTH }),
    ),
    ...withLegacySpellings(
      binding.selector,
      // Longer than a label value on purpose: the selector rule explains the limit better than maxLength.
      string(`Pods whose ${BINDING_LABEL} label has exactly this value may use the identity.`, {
        maxLength: OBJECT_NAME_MAX_LENGTH,
      }),
    ),
    weight: { type: 'integer', description: 'Declared by aad-pod-identity; not used.' },
  }),
  {
    type: 'object',
    description: 'Not written by pod-identity.',
    properties: { metadata: EMBEDDED_METADATA_QUIRK, availableReplicas: int32('Not used.') },
  },
);

/** An embedded copy of another object, kept whole so that both implementations' MICs can write it. */
const embeddedObject = (description: string): JsonSchema => ({
  type: 'object',
  description,
  'x-kubernetes-embedded-resource': true,
  'x-kubernetes-preserve-unknown-fields': true,
});

/** Schema of an AzureAssignedIdentity: types only, no rules (MIC writes it; upstream MICs must still be able to). */
export const AZURE_ASSIGNED_IDENTITY_SCHEMA: JsonSchema = objectSchema(
  'AzureAssignedIdentity',
  'Written by MIC: the pod may use the identity on its node. Named <pod>-<pod namespace>-<identity>.',
  specSchema('AzureAssignedIdentity', 'The pod, its node, and copies of the identity and binding that matched.', {
    azureIdentityRef: embeddedObject('Copy of the AzureIdentity.'),
    azureBindingRef: embeddedObject('Copy of the AzureIdentityBinding.'),
    pod: string('Pod name.'),
    podNamespace: string('Pod namespace.'),
    nodename: string('Node the pod runs on.'),
    replicas: int32('Not used.', { nullable: true }),
  }),
  {
    type: 'object',
    description: 'Progress of the assignment.',
    properties: {
      metadata: EMBEDDED_METADATA_QUIRK,
      status: string('Created (identity not yet on the node), Assigned, or Unassigned (about to be deleted).'),
      availableReplicas: int32('Always 1.'),
    },
  },
);

/** Schema of an AzurePodIdentityException. */
export const AZURE_POD_IDENTITY_EXCEPTION_SCHEMA: JsonSchema = objectSchema(
  'AzurePodIdentityException',
  "Pods of this namespace carrying any one of the labels are not given a pod identity: their token requests get the node's identity, as if NMI were absent.",
  specSchema('AzurePodIdentityException', 'Which pods are excepted.', {
    ...withLegacySpellings(EXCEPTION_SPEC_SPELLINGS.podLabels, {
      type: 'object',
      description: 'Label key to value (value compared case-insensitively); any one match excepts the pod.',
      additionalProperties: { type: 'string' },
    }),
  }),
  {
    type: 'object',
    description: 'Not written by pod-identity.',
    properties: { metadata: EMBEDDED_METADATA_QUIRK, status: string('Not used.') },
  },
);
