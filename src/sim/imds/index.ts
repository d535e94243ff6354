/**
 * PLACEHOLDER written by the simulator/control engineer so `simulator.ts` compiles; the IMDS owner
 * replaces this file. Contract: `imdsRoutes` is registered on one plain-HTTP server per simulated node
 * with {@link ImdsDeps}. `limits` can change at runtime (admin `POST /options`): read it from the deps
 * object on every request, do not copy it at registration.
 * @module
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { SimStore } from '../state/store.ts';
import type { TokenIssuer } from '../tokens/issuer.ts';

export interface ImdsDeps {
  store: SimStore;
  issuer: TokenIssuer;
  /** The Kubernetes node (VM name or VMSS instance computer name) this IMDS answers for. */
  nodeName: string;
  /** Managed Identity category limits per VM (real IMDS: 20 requests/s and 5 concurrent); false = off. */
  limits: { requestsPerSecond: number; maxConcurrent: number } | false;
  logger: Logger;
}

export const imdsRoutes: FastifyPluginAsync<ImdsDeps> = async () => {};
