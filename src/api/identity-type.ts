/**
 * The `spec.type` values of an AzureIdentity.
 * @module
 */

/** Kinds of Azure identity; the numbers are the wire values of `spec.type` (omitted means 0). */
export const IdentityType = {
  /** A user-assigned managed identity, assigned to the node's VM or VMSS; tokens come from IMDS. */
  UserAssignedMSI: 0,
  /** A service principal authenticating with a client secret. */
  ServicePrincipal: 1,
  /** A service principal authenticating with a PKCS#12 certificate. */
  ServicePrincipalCertificate: 2,
} as const;

/** One of the `spec.type` values 0, 1 or 2. */
export type IdentityType = (typeof IdentityType)[keyof typeof IdentityType];

/** All valid `spec.type` values, ascending. */
export const IDENTITY_TYPES: readonly IdentityType[] = Object.values(IdentityType);

/** True when `value` is one of the `spec.type` values 0, 1 or 2. */
export function isIdentityType(value: unknown): value is IdentityType {
  return IDENTITY_TYPES.some((type) => type === value);
}

/** True for the service-principal types (1 and 2), which need clientID, tenantID and a Secret. */
export function isServicePrincipalType(type: IdentityType): boolean {
  return type !== IdentityType.UserAssignedMSI;
}
