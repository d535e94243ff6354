/**
 * PLACEHOLDER written by the simulator/control engineer so `simulator.ts` compiles; the ARM owner
 * replaces this file. Contract: `armRoutes` is registered on the ARM HTTPS server with {@link ArmDeps}.
 * `lroDurationMs` and `enforceRbac` can change at runtime (admin `POST /options`): read them from the
 * deps object on every request, do not copy them at registration.
 * @module
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { SimStore } from '../state/store.ts';
import type { TokenIssuer } from '../tokens/issuer.ts';

export interface ArmDeps {
  store: SimStore;
  issuer: TokenIssuer;
  lroDurationMs: { vm: number; vmss: number };
  enforceRbac: boolean;
  /** Base URL clients reach this server at (for absolute `Azure-AsyncOperation` URLs). */
  publicUrl: () => string;
  logger: Logger;
}

export const armRoutes: FastifyPluginAsync<ArmDeps> = async () => {};
