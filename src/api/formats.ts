/**
 * Formats of identifiers that can never work when malformed, as regular-expression sources that
 * mean the same in JavaScript and in RE2 (CEL's `matches()`), so the CRD rules and the code agree.
 * @module
 */

/** A GUID in its 8-4-4-4-12 hex form (client IDs, tenant IDs, subscription IDs). */
export const GUID_PATTERN = '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$';

/**
 * A DNS domain name with at least two labels, e.g. `contoso.onmicrosoft.com`: Entra ID accepts a
 * tenant's verified domain wherever it accepts the tenant ID.
 */
export const DOMAIN_NAME_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+$';

/** Longest label value Kubernetes accepts. */
export const LABEL_VALUE_MAX_LENGTH = 63;

/** A non-empty Kubernetes label value (length checked separately, see LABEL_VALUE_MAX_LENGTH). */
export const LABEL_VALUE_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';

/** Longest object name Kubernetes accepts (DNS subdomain). */
export const OBJECT_NAME_MAX_LENGTH = 253;

/** A custom resource's name: a DNS subdomain (length checked separately). */
export const OBJECT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

const GUID = new RegExp(GUID_PATTERN);
const DOMAIN_NAME = new RegExp(DOMAIN_NAME_PATTERN);
const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN);

/** True for a GUID such as `00000000-0000-0000-0000-000000000000` (either case). */
export function isGuid(value: string): boolean {
  return GUID.test(value);
}

/** True for a tenant ID (GUID) or a tenant domain name. */
export function isTenantId(value: string): boolean {
  return GUID.test(value) || DOMAIN_NAME.test(value);
}

/** True for a non-empty, valid Kubernetes label value (what a binding's selector must be). */
export function isLabelValue(value: string): boolean {
  return value.length <= LABEL_VALUE_MAX_LENGTH && LABEL_VALUE.test(value);
}
