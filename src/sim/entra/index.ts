/**
 * PLACEHOLDER written by the simulator/control engineer so `simulator.ts` compiles; the Entra ID owner
 * replaces this file. Contract: `entraRoutes` is registered on the Entra HTTPS server with {@link EntraDeps}.
 * @module
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { SimStore } from '../state/store.ts';
import type { TokenIssuer } from '../tokens/issuer.ts';

export interface EntraDeps {
  store: SimStore;
  issuer: TokenIssuer;
  /** Base URL clients reach this server at (issuer, token_endpoint in the OpenID configuration). */
  publicUrl: () => string;
  logger: Logger;
}

export const entraRoutes: FastifyPluginAsync<EntraDeps> = async () => {};
