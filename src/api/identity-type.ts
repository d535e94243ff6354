/**
 * The `spec.type` values of an AzureIdentity, and what each kind needs.
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
  /**
   * A user-assigned managed identity reached through workload identity federation: NMI presents its
   * own Kubernetes service-account token to Entra ID, so the identity is never assigned to a node.
   */
  FederatedIdentity: 3,
} as const;

/** One of the `spec.type` values 0, 1, 2 or 3. */
export type IdentityType = (typeof IdentityType)[keyof typeof IdentityType];

/** All valid `spec.type` values, ascending. */
export const IDENTITY_TYPES: readonly IdentityType[] = Object.values(IdentityType);

/** What each `spec.type` value means, for messages and docs. */
export const IDENTITY_TYPE_DESCRIPTIONS: Readonly<Record<IdentityType, string>> = {
  [IdentityType.UserAssignedMSI]: 'user-assigned managed identity',
  [IdentityType.ServicePrincipal]: 'service principal with client secret',
  [IdentityType.ServicePrincipalCertificate]: 'service principal with certificate',
  [IdentityType.FederatedIdentity]: 'federated identity',
};

/** `0 (user-assigned managed identity), 1 (…), 2 (…) or 3 (federated identity)`, for messages. */
export function describeIdentityTypes(): string {
  const described = IDENTITY_TYPES.map((type) => `${type} (${IDENTITY_TYPE_DESCRIPTIONS[type]})`);
  return `${described.slice(0, -1).join(', ')} or ${described.at(-1) ?? ''}`;
}

/** True when `value` is one of the `spec.type` values 0, 1, 2 or 3. */
export function isIdentityType(value: unknown): value is IdentityType {
  return IDENTITY_TYPES.some((type) => type === value);
}

/** True for the service-principal types (1 and 2), which need clientID, tenantID and a Secret. */
export function isServicePrincipalType(type: IdentityType): boolean {
  return type === IdentityType.ServicePrincipal || type === IdentityType.ServicePrincipalCertificate;
}

/** True for the federated identity type (3), which needs clientID and tenantID and no Secret. */
export function isFederatedType(type: IdentityType): boolean {
  return type === IdentityType.FederatedIdentity;
}

/**
 * True when MIC must assign the identity to the pod's node through ARM (type 0 only); for the
 * other types the pod's assignment is complete as soon as it matches.
 */
export function needsNodeAssignment(type: IdentityType): boolean {
  return type === IdentityType.UserAssignedMSI;
}
