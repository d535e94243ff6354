/**
 * What the Azure simulator saw while NMI served the federated pod: Entra ID exchanges, ARM writes,
 * IMDS requests, and whether the federated identity sits on any VM or scale set. Pure.
 * @module
 */
import type { RequestLogEntry } from '../../../sim/http/request-log.ts';
import type { SimStateData } from '../../../sim/state/model.ts';

export interface FederatedTrace {
  /** Client-assertion token requests to Entra ID (v2 token endpoint). */
  readonly entraExchanges: number;
  /** PUT/PATCH/POST/DELETE on ARM. */
  readonly armWrites: number;
  readonly imdsRequests: number;
  /** The identity is on a VM or scale set of the simulator. */
  readonly onNode: boolean;
}

const WRITES = new Set(['PUT', 'PATCH', 'POST', 'DELETE']);

export function federatedTrace(entries: readonly RequestLogEntry[], state: Pick<SimStateData, 'scaleSets' | 'virtualMachines'>, resourceId: string): FederatedTrace {
  const id = resourceId.toLowerCase();
  const compute = [...state.scaleSets, ...state.virtualMachines];
  return {
    entraExchanges: entries.filter((entry) => entry.service === 'entra' && entry.method === 'POST' && /\/oauth2\/v2\.0\/token$/i.test(entry.path)).length,
    armWrites: entries.filter((entry) => entry.service === 'arm' && WRITES.has(entry.method)).length,
    imdsRequests: entries.filter((entry) => entry.service.startsWith('imds')).length,
    onNode: compute.some((resource) => resource.identity.userAssignedIdentities.some((assigned) => assigned.toLowerCase() === id)),
  };
}
