/**
 * The CRD validation rules (CEL), the single source for the CRD manifests, docs/crds.md and the
 * tests. They reject only objects that can never work, honour the declared legacy spellings
 * (see legacy-spellings.ts) and say in the message what to fix. AzureAssignedIdentity has none:
 * MICs of both implementations write it and must not be blocked.
 * @module
 */
import { celHasAny, celOnValue, celString, celValueOf } from './cel.ts';
import {
  DOMAIN_NAME_PATTERN,
  GUID_PATTERN,
  LABEL_VALUE_MAX_LENGTH,
  LABEL_VALUE_PATTERN,
  OBJECT_NAME_MAX_LENGTH,
  OBJECT_NAME_PATTERN,
} from './formats.ts';
import { describeIdentityTypes, IDENTITY_TYPES, IdentityType } from './identity-type.ts';
import {
  BINDING_SPEC_SPELLINGS,
  EXCEPTION_SPEC_SPELLINGS,
  IDENTITY_SPEC_SPELLINGS,
  SECRET_REFERENCE_SPELLINGS,
} from './legacy-spellings.ts';
import { BINDING_LABEL } from './metadata-keys.ts';
import type { PodIdentityKind } from './names.ts';
import { USER_ASSIGNED_IDENTITY_ID_PATTERN } from './resource-id.ts';

/** Error reasons the API server accepts for a rule (it reports FieldValueInvalid by default). */
export type CrdRuleReason = 'FieldValueInvalid' | 'FieldValueRequired';

/** One `x-kubernetes-validations` entry, with where it is attached. */
export interface CrdValidationRule {
  /** Stable identifier, used in docs/crds.md and test fixtures. */
  readonly id: string;
  /** The kind whose schema carries the rule. */
  readonly kind: PodIdentityKind;
  /**
   * Schema node the rule sits on. Only `spec`: a rule on the whole object sees its metadata, so it is
   * evaluated again on every label or status write and never ratchets; it would refuse every update
   * of an object upstream accepted (a spec-less one, for `has(self.spec)`). A missing spec is
   * therefore accepted, as upstream did; the readers report such an object and MIC and NMI skip it.
   */
  readonly appliesTo: 'spec';
  /** The CEL expression; `self` is the node named by `appliesTo`. */
  readonly rule: string;
  /** What the user sees: which field, what is wrong, what to write instead. */
  readonly message: string;
  /** Field the API server names in the error, relative to the node (e.g. `.clientID`). */
  readonly fieldPath: string;
  /** Error reason reported by the API server. */
  readonly reason: CrdRuleReason;
}

const identity = IDENTITY_SPEC_SPELLINGS;
const binding = BINDING_SPEC_SPELLINGS;

/** CEL: the identity's type as the readers see it (omitted means 0). */
const identityType = celValueOf(identity.type, '0');
const isServicePrincipal = `${identityType} in [${IdentityType.ServicePrincipal}, ${IdentityType.ServicePrincipalCertificate}]`;
/** Types that sign in to a tenant with their client ID: the service principals and federated identities. */
const needsTenant = `${identityType} in [${IdentityType.ServicePrincipal}, ${IdentityType.ServicePrincipalCertificate}, ${IdentityType.FederatedIdentity}]`;
/** Types whose resourceID, when given, must be a user-assigned identity's: 0 (required) and 3 (optional). */
const namesUserAssignedIdentity = `${identityType} in [${IdentityType.UserAssignedMSI}, ${IdentityType.FederatedIdentity}]`;

const RESOURCE_ID_FORMAT =
  '/subscriptions/<subscription>/resourcegroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>';

/** Rules of AzureIdentity. */
const IDENTITY_RULES: readonly CrdValidationRule[] = [
  {
    id: 'identity-type',
    kind: 'AzureIdentity',
    appliesTo: 'spec',
    rule: celOnValue(identity.type, (type) => `${type} in [${IDENTITY_TYPES.join(', ')}]`, 'true'),
    message: `spec.type must be ${describeIdentityTypes()}`,
    fieldPath: '.type',
    reason: 'FieldValueInvalid',
  },
  {
    id: 'identity-client-id-required',
    kind: 'AzureIdentity',
    appliesTo: 'spec',
    rule: celHasAny(identity.clientID),
    message: 'spec.clientID is required: the client ID (a GUID) of the managed identity (types 0 and 3) or service principal (types 1 and 2)',
    fieldPath: '.clientID',
    reason: 'FieldValueRequired',
  },
  {
    id: 'identity-client-id-format',
    kind: 'AzureIdentity',
    appliesTo: 'spec',
    rule: celOnValue(identity.clientID, (id) => `${id}.matches(${celString(GUID_PATTERN)})`, 'true'),
    message: 'spec.clientID must be a GUID such as 00000000-0000-0000-0000-000000000000',
    fieldPath: '.clientID',
    reason: 'FieldValueInvalid',
  },
  {
    id: 'identity-resource-id-required',
    kind: 'AzureIdentity',
    appliesTo: 'spec',
    rule: `${identityType} != ${IdentityType.UserAssignedMSI} || ${celHasAny(identity.resourceID)}`,
    message: `spec.resourceID is required for a type 0 (user-assigned managed identity) identity: ${RESOURCE_ID_FORMAT}`,
    fieldPath: '.resourceID',
    reason: 'FieldValueRequired',
  },
  {
    id: 'identity-resource-id-format',
    kind: 'AzureIdentity',
    appliesTo: 'spec',
    // Type 3 needs no resourceID (no node assignment), but one given is matched against msi_res_id.
    rule: `!(${namesUserAssignedIdentity}) || ${celOnValue(
      identity.resourceID,
      (id) => `${id}.matches(${celString(`(?i)${USER_ASSIGNED_IDENTITY_ID_PATTERN}`)})`,
      'true',
    )}`,
    message: `spec.resourceID must be the resource ID of a user-assigned managed identity: ${RESOURCE_ID_FORMAT}`,
    fieldPath: '.resourceID',
    reason: 'FieldValueInvalid',
  },
  {
    id: 'identity-tenant-id-required',
    kind: 'AzureIdentity',
    appliesTo: 'spec',
    rule: `!(${needsTenant}) || ${celHasAny(identity.tenantID)}`,
    message:
      "spec.tenantID is required for a service principal (type 1 or 2) or a federated identity (type 3): the tenant's ID (a GUID) or domain name",
    fieldPath: '.tenantID',
    reason: 'FieldValueRequired',
  },
  {
    id: 'identity-tenant-id-format',
    kind: 'AzureIdentity',
    appliesTo: 'spec',
    rule: `!(${needsTenant}) || ${celOnValue(
      identity.tenantID,
      (id) => `(${id}.matches(${celString(GUID_PATTERN)}) || ${id}.matches(${celString(DOMAIN_NAME_PATTERN)}))`,
      'true',
    )}`,
    message: 'spec.tenantID must be a tenant ID (a GUID) or a tenant domain name such as contoso.onmicrosoft.com',
    fieldPath: '.tenantID',
    reason: 'FieldValueInvalid',
  },
  {
    id: 'identity-client-password-required',
    kind: 'AzureIdentity',
    appliesTo: 'spec',
    rule: `!(${isServicePrincipal}) || ${celOnValue(
      identity.clientPassword,
      (secret) => celOnValue(SECRET_REFERENCE_SPELLINGS.name, (name) => `${name} != ''`, 'false', secret),
      'false',
    )}`,
    message:
      'spec.clientPassword.name is required for a service principal (type 1 or 2): the Secret holding the client secret (type 1) or the certificate (type 2)',
    fieldPath: '.clientPassword',
    reason: 'FieldValueRequired',
  },
];

/** Rules of AzureIdentityBinding. */
const BINDING_RULES: readonly CrdValidationRule[] = [
  {
    id: 'binding-azure-identity-required',
    kind: 'AzureIdentityBinding',
    appliesTo: 'spec',
    rule: celOnValue(binding.azureIdentity, (name) => `${name} != ''`, 'false'),
    message: "spec.azureIdentity is required: the name of an AzureIdentity in the binding's namespace",
    fieldPath: '.azureIdentity',
    reason: 'FieldValueRequired',
  },
  {
    id: 'binding-azure-identity-format',
    kind: 'AzureIdentityBinding',
    appliesTo: 'spec',
    rule: celOnValue(
      binding.azureIdentity,
      (name) =>
        `${name} == '' || (size(${name}) <= ${OBJECT_NAME_MAX_LENGTH} && ${name}.matches(${celString(OBJECT_NAME_PATTERN)}))`,
      'true',
    ),
    message: `spec.azureIdentity must be the name of an AzureIdentity: lower-case letters, digits, '-' and '.', at most ${OBJECT_NAME_MAX_LENGTH} characters`,
    fieldPath: '.azureIdentity',
    reason: 'FieldValueInvalid',
  },
  {
    id: 'binding-selector-required',
    kind: 'AzureIdentityBinding',
    appliesTo: 'spec',
    rule: celOnValue(binding.selector, (selector) => `${selector} != ''`, 'false'),
    message: `spec.selector is required: the value of the ${BINDING_LABEL} label of the pods that may use the identity`,
    fieldPath: '.selector',
    reason: 'FieldValueRequired',
  },
  {
    id: 'binding-selector-format',
    kind: 'AzureIdentityBinding',
    appliesTo: 'spec',
    rule: celOnValue(
      binding.selector,
      (selector) =>
        `${selector} == '' || (size(${selector}) <= ${LABEL_VALUE_MAX_LENGTH} && ${selector}.matches(${celString(LABEL_VALUE_PATTERN)}))`,
      'true',
    ),
    message: `spec.selector must be a valid label value, because pods carry it as their ${BINDING_LABEL} label: at most ${LABEL_VALUE_MAX_LENGTH} characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`,
    fieldPath: '.selector',
    reason: 'FieldValueInvalid',
  },
];

/** Rules of AzurePodIdentityException. */
const EXCEPTION_RULES: readonly CrdValidationRule[] = [
  {
    id: 'exception-pod-labels-required',
    kind: 'AzurePodIdentityException',
    appliesTo: 'spec',
    rule: celOnValue(EXCEPTION_SPEC_SPELLINGS.podLabels, (labels) => `size(${labels}) > 0`, 'false'),
    message: 'spec.podLabels needs at least one label (key: value); pods carrying any one of them are excepted',
    fieldPath: '.podLabels',
    reason: 'FieldValueRequired',
  },
];

/** Every validation rule of the four CRDs, in the order the manifests list them. */
export const CRD_VALIDATION_RULES: readonly CrdValidationRule[] = [...IDENTITY_RULES, ...BINDING_RULES, ...EXCEPTION_RULES];

/** The rules of one kind (all on its `spec`). */
export function rulesFor(kind: PodIdentityKind): CrdValidationRule[] {
  return CRD_VALIDATION_RULES.filter((rule) => rule.kind === kind);
}
