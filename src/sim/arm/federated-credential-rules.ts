/**
 * The rules the managed identity RP applies to federated identity credentials, as pure functions:
 * which api-versions serve them, what a PUT body must hold, and which writes the other credentials of
 * the identity forbid (same issuer and subject, more than 20). Each returns the answer or throws the
 * {@link ArmError} real ARM sends (errors.ts names the sources).
 * @module
 */
import type { FederatedIdentityCredential } from '../state/model.ts';
import {
  federatedCredentialAudienceCount,
  federatedCredentialDuplicate,
  federatedCredentialIssuerNotHttps,
  federatedCredentialNameInvalid,
  federatedCredentialPropertiesMissing,
  invalidRequestContent,
  MAX_FEDERATED_CREDENTIALS_PER_IDENTITY,
  noRegisteredProviderFound,
  tooManyFederatedCredentials,
} from './errors.ts';

/** The first GA api-version with federated credentials; earlier ones (2022-01-31-preview) are refused. */
export const FIRST_FEDERATED_CREDENTIAL_API_VERSION = '2023-01-31';

/** The api-versions ARM lists for the type (the simulator also takes any later date). */
export const FEDERATED_CREDENTIAL_API_VERSIONS = ['2023-01-31', '2023-07-31-preview', '2024-11-30', '2025-01-31-preview'] as const;

/** Regions ARM names in `NoRegisteredProviderFound` (a representative subset of the real list). */
const LOCATIONS = ['eastus', 'eastus2', 'westus', 'westus2', 'westus3', 'centralus', 'northcentralus', 'southcentralus', 'westcentralus', 'canadacentral', 'brazilsouth', 'northeurope', 'westeurope', 'uksouth', 'francecentral', 'germanywestcentral', 'swedencentral', 'switzerlandnorth', 'norwayeast', 'southeastasia', 'japaneast', 'koreacentral', 'australiaeast', 'centralindia', 'southafricanorth', 'uaenorth'];

const TYPE_NAME = 'userAssignedIdentities/federatedIdentityCredentials';

/** 3–120 characters: letters, digits, `-`, `_`; the first a letter or digit. */
export const FEDERATED_CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/;

/** `YYYY-MM-DD` with an optional `-preview` suffix. */
const API_VERSION = /^(\d{4}-\d{2}-\d{2})(?:-[a-z]+)?$/i;

/** Throws `NoRegisteredProviderFound` unless `apiVersion` serves federated credentials (2023-01-31 or later). */
export function checkFederatedCredentialApiVersion(apiVersion: string, location: string): void {
  const date = API_VERSION.exec(apiVersion)?.[1];
  if (date !== undefined && date >= FIRST_FEDERATED_CREDENTIAL_API_VERSION) return;
  const locations = LOCATIONS.includes(location.toLowerCase()) ? LOCATIONS : [...LOCATIONS, location.toLowerCase()];
  throw noRegisteredProviderFound(location, apiVersion, TYPE_NAME, FEDERATED_CREDENTIAL_API_VERSIONS, locations);
}

/** Throws unless `name` is a valid credential name. */
export function checkFederatedCredentialName(name: string): void {
  if (!FEDERATED_CREDENTIAL_NAME.test(name)) throw federatedCredentialNameInvalid(name);
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

/** Whether `issuer` is an absolute https URL. */
export function isHttpsUrl(issuer: string): boolean {
  try {
    return new URL(issuer).protocol === 'https:';
  } catch {
    return false;
  }
}

/** The credential a PUT body `{ properties: { issuer, subject, audiences: [one] } }` describes. */
export function parseFederatedCredentialBody(name: string, body: unknown): FederatedIdentityCredential {
  if (body !== undefined && !isRecord(body)) throw invalidRequestContent('the body must be a JSON object');
  const properties = isRecord(body) ? body['properties'] : undefined;
  if (properties !== undefined && properties !== null && !isRecord(properties)) throw invalidRequestContent('properties must be a JSON object');
  const { issuer, subject, audiences } = isRecord(properties) ? properties : {};
  if (!nonEmptyString(issuer) || !nonEmptyString(subject) || !Array.isArray(audiences) || audiences.length === 0) throw federatedCredentialPropertiesMissing();
  if (audiences.length !== 1 || !audiences.every(nonEmptyString)) throw federatedCredentialAudienceCount();
  if (!isHttpsUrl(issuer)) throw federatedCredentialIssuerNotHttps(issuer);
  return { name, issuer, subject, audiences: [...audiences] };
}

/**
 * Throws when writing `credential` next to `existing` (the identity's other credentials, the one of
 * the same name included when it is an update) would duplicate an issuer + subject pair or exceed
 * the per-identity limit. Issuer and subject compare exactly, as Entra matches them.
 */
export function checkFederatedCredentialWrite(identityId: string, existing: readonly FederatedIdentityCredential[], credential: FederatedIdentityCredential): void {
  const sameName = (other: FederatedIdentityCredential): boolean => other.name.toLowerCase() === credential.name.toLowerCase();
  const others = existing.filter((other) => !sameName(other));
  if (others.some((other) => other.issuer === credential.issuer && other.subject === credential.subject)) throw federatedCredentialDuplicate();
  if (others.length === existing.length && existing.length >= MAX_FEDERATED_CREDENTIALS_PER_IDENTITY) throw tooManyFederatedCredentials(identityId);
}
