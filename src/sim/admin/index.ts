/**
 * The simulator's admin API (plain HTTP, loopback): seed and read state, read the request log, manage
 * fault rules and runtime settings. Typed client: ../client.ts.
 * @module
 */
import type { FastifyPluginAsync } from 'fastify';
import type { FaultInjector } from '../faults/injector.ts';
import type { RequestLog } from '../http/request-log.ts';
import type { SimStore } from '../state/store.ts';
import type { SimSettings } from './settings.ts';

export interface AdminDeps {
  readonly store: SimStore;
  readonly faults: FaultInjector;
  readonly requestLog: RequestLog;
  readonly settings: SimSettings;
}

// eslint-disable-next-line @typescript-eslint/require-await -- routes are registered synchronously
export const adminRoutes: FastifyPluginAsync<AdminDeps> = async (app) => {
  app.get('/healthz', () => ({ ok: true }));
};
