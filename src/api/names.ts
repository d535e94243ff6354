/**
 * API group, version and resource names of the four aad-pod-identity custom resources.
 *
 * These are wire contracts shared with the archived Go implementation: objects written by either
 * implementation must be readable by the other, so none of these strings may change.
 * @module
 */

/** API group of all four kinds. */
export const GROUP = 'aadpodidentity.k8s.io';

/** The only served and storage version. */
export const VERSION = 'v1';

/** `apiVersion` of every object of the four kinds. */
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/** The names a CustomResourceDefinition declares for one kind. */
export interface ResourceNames {
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  /** Our addition (upstream had none); chosen not to clash with built-in short names. */
  readonly shortNames: readonly string[];
}

/** Names of the AzureIdentity kind (an Azure identity pods may use). */
export const AZURE_IDENTITY = {
  kind: 'AzureIdentity',
  listKind: 'AzureIdentityList',
  plural: 'azureidentities',
  singular: 'azureidentity',
  shortNames: ['azid'],
} as const satisfies ResourceNames;

/** Names of the AzureIdentityBinding kind (which pods, by label, may use which identity). */
export const AZURE_IDENTITY_BINDING = {
  kind: 'AzureIdentityBinding',
  listKind: 'AzureIdentityBindingList',
  plural: 'azureidentitybindings',
  singular: 'azureidentitybinding',
  shortNames: ['azidb'],
} as const satisfies ResourceNames;

/** Names of the AzureAssignedIdentity kind (one pod–identity pair, written by MIC). */
export const AZURE_ASSIGNED_IDENTITY = {
  kind: 'AzureAssignedIdentity',
  listKind: 'AzureAssignedIdentityList',
  plural: 'azureassignedidentities',
  singular: 'azureassignedidentity',
  shortNames: ['azaid'],
} as const satisfies ResourceNames;

/** Names of the AzurePodIdentityException kind (pods NMI lets through to the node's identity). */
export const AZURE_POD_IDENTITY_EXCEPTION = {
  kind: 'AzurePodIdentityException',
  listKind: 'AzurePodIdentityExceptionList',
  plural: 'azurepodidentityexceptions',
  singular: 'azurepodidentityexception',
  shortNames: ['azpiex'],
} as const satisfies ResourceNames;

/** The four kinds, in the order the CRD manifests list them. */
export const ALL_RESOURCE_NAMES = [
  AZURE_IDENTITY,
  AZURE_IDENTITY_BINDING,
  AZURE_ASSIGNED_IDENTITY,
  AZURE_POD_IDENTITY_EXCEPTION,
] as const;

/** Kind name of one of the four custom resources. */
export type PodIdentityKind = (typeof ALL_RESOURCE_NAMES)[number]['kind'];

/** Name of the CustomResourceDefinition object for a kind, e.g. `azureidentities.aadpodidentity.k8s.io`. */
export function crdName(names: ResourceNames): string {
  return `${names.plural}.${GROUP}`;
}

/** kubectl category that lists all four kinds at once (`kubectl get podidentity`). */
export const CRD_CATEGORY = 'podidentity';

/**
 * Audience of the service-account token NMI presents to Entra ID for a federated identity (type 3):
 * the value Entra ID expects in a federated identity credential's `audiences`.
 */
export const FEDERATED_TOKEN_AUDIENCE = 'api://AzureADTokenExchange';
