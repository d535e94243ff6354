/**
 * The simulator's admin API (plain HTTP, loopback only): seed and read the state, read the request
 * log, manage fault rules and runtime settings. Typed client: ../client.ts. Every body is validated;
 * errors are `{"error": {"code", "message", "problems"?}}` (errors.ts).
 * @module
 */
import type { FastifyPluginAsync } from 'fastify';
import { LRO_KINDS, type LroKind } from '../arm/operations.ts';
import type { LroPollLog } from '../arm/poll-log.ts';
import type { FaultInjector } from '../faults/injector.ts';
import { parseFaultRule } from '../faults/match.ts';
import { requestLogPredicate, type RequestLog } from '../http/request-log.ts';
import type { SimStore } from '../state/store.ts';
import { AdminError, adminErrorHandler } from './errors.ts';
import { InvalidInputError } from './fields.ts';
import { parseRequestQuery } from './requests.ts';
import { seedRoutes } from './seed-routes.ts';
import { parseSettingsPatch, type SimSettings } from './settings.ts';
import { parseStateData } from './state-schema.ts';

export interface AdminDeps {
  readonly store: SimStore;
  readonly faults: FaultInjector;
  readonly requestLog: RequestLog;
  readonly pollLog: LroPollLog;
  readonly settings: SimSettings;
}

type Query = Record<string, string | undefined>;

export const adminRoutes: FastifyPluginAsync<AdminDeps> = async (app, deps) => {
  const { store, faults, requestLog, pollLog, settings } = deps;
  app.setErrorHandler(adminErrorHandler);

  app.get('/healthz', () => ({ ok: true }));

  // --- state ---
  app.get('/state', () => store.snapshot());
  app.put('/state', (request) => {
    const state = parseStateData(request.body, store.tenantId);
    if (state.tenantId !== undefined && state.tenantId.toLowerCase() !== store.tenantId.toLowerCase()) {
      // Tokens already issued carry the tenant; restarting is the honest way to change it.
      throw new InvalidInputError('invalid state', [`tenantId: ${state.tenantId} differs from this simulator's tenant ${store.tenantId}; start a simulator with that tenant instead`]);
    }
    store.load(state);
    return store.snapshot();
  });

  await app.register(seedRoutes, { store });

  // Deleting an identity in Azure does not touch the VMs/VMSS it is assigned to: their IDs dangle.
  app.delete('/identities', (request, reply) => {
    const id = (request.query as Query)['id'];
    if (id === undefined || id === '') throw new InvalidInputError('invalid request', ['id: the identity resource ID is required (?id=…)']);
    if (!store.deleteIdentity(id)) throw new AdminError(404, 'NotFound', `identity ${id} does not exist`);
    return reply.code(204).send();
  });

  // --- request log ---
  app.get('/requests', (request) => {
    const { filter } = parseRequestQuery(request.query as Query);
    return { lastSeq: requestLog.lastSeq, entries: requestLog.query(filter) };
  });
  app.get('/requests/wait', async (request, reply) => {
    const { filter, timeoutMs } = parseRequestQuery(request.query as Query);
    const predicate = requestLogPredicate(filter);
    // Stop waiting when the client gives up (the response closes before it was written).
    const closed = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) closed.abort();
    });
    try {
      return { entry: await requestLog.waitFor(predicate, timeoutMs ?? 10_000, closed.signal) };
    } catch (error) {
      throw new AdminError(504, 'Timeout', (error as Error).message);
    }
  });
  // Polls per compute operation: how often clients fetched each operation's status URL.
  app.get('/requests/operations', (request) => {
    const { resource, kind } = parseOperationQuery(request.query as Query);
    return { operations: pollLog.query({ ...(resource !== undefined ? { resource } : {}), ...(kind !== undefined ? { kind } : {}) }) };
  });
  app.delete('/requests', (_request, reply) => {
    requestLog.clear();
    pollLog.clear();
    return reply.code(204).send();
  });

  // --- faults ---
  app.get('/faults', () => faults.list());
  app.post('/faults', (request, reply) => {
    const body = request.body;
    // One rule or a list; a list is validated entirely before any rule is added.
    const inputs: unknown[] = Array.isArray(body) ? body : [body];
    const rules = inputs.map((input) => parseFaultRule(input));
    const added = rules.map((rule) => faults.add(rule));
    return reply.code(201).send(Array.isArray(body) ? added : added[0]);
  });
  app.delete('/faults', (_request, reply) => {
    faults.clear();
    return reply.code(204).send();
  });
  app.delete<{ Params: { id: string } }>('/faults/:id', (request, reply) => {
    if (!faults.remove(request.params.id)) throw new AdminError(404, 'NotFound', `fault rule ${request.params.id} does not exist`);
    return reply.code(204).send();
  });

  // --- runtime settings ---
  app.get('/options', () => settings.data());
  app.post('/options', (request) => settings.update(parseSettingsPatch(request.body)));
};

/** `?resource=<substring of the resource ID>&kind=<operation kind>`; throws InvalidInputError. */
function parseOperationQuery(query: Query): { resource: string | undefined; kind: LroKind | undefined } {
  const problems: string[] = [];
  for (const name of Object.keys(query)) if (name !== 'resource' && name !== 'kind') problems.push(`${name}: unknown filter (known: resource, kind)`);
  const kind = query['kind'];
  const knownKind = LRO_KINDS.find((candidate) => candidate === kind);
  if (kind !== undefined && knownKind === undefined) problems.push(`kind: must be one of ${LRO_KINDS.join(', ')}`);
  if (problems.length > 0) throw new InvalidInputError('invalid operation query', problems);
  const resource = query['resource'];
  return { resource: resource === '' ? undefined : resource, kind: knownKind };
}
