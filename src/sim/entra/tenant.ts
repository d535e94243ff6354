/**
 * Which tenant a URL's `{tenant}` segment names. The simulator hosts one tenant: its GUID (any case)
 * names it, and so does a `*.onmicrosoft.com` domain (Entra accepts a tenant's domain wherever it
 * accepts its ID; the simulated tenant has no registered domain list, so any initial-domain form is
 * taken as its own). Anything else is an unknown tenant (AADSTS90002).
 * @module
 */

const INITIAL_DOMAIN = /^[a-z0-9][a-z0-9-]{0,62}\.onmicrosoft\.com$/i;

/** The tenant ID `segment` resolves to, or undefined. */
export function resolveTenant(segment: string, tenantId: string): string | undefined {
  if (segment.toLowerCase() === tenantId.toLowerCase()) return tenantId;
  if (INITIAL_DOMAIN.test(segment)) return tenantId;
  return undefined;
}
