/**
 * Names of the simulator's servers as they appear in the request log and in fault rules.
 * @module
 */

/** `arm`, `entra`, `admin`, or `imds:<node name>` (one IMDS listener per simulated node). */
export type ServiceName = 'arm' | 'entra' | 'admin' | `imds:${string}`;

/**
 * Whether a service selector (from a fault rule or a log filter) covers `service`: equal
 * (case-insensitive), or the bare `imds` selector, which covers every node's IMDS.
 */
export function serviceMatches(selector: string, service: string): boolean {
  const wanted = selector.toLowerCase();
  const actual = service.toLowerCase();
  return wanted === actual || (wanted === 'imds' && actual.startsWith('imds:'));
}

/** The node of an `imds:<node>` service name. */
export function nodeOf(service: string): string | undefined {
  return service.startsWith('imds:') ? service.slice('imds:'.length) : undefined;
}
