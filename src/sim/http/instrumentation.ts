/**
 * Instrumentation every simulator server registers first: injects the faults a test asked for and
 * records each request in the shared request log. Registered with `skip-override` so its hooks cover
 * the routes the server registers after it (fastify's encapsulation would otherwise hide them).
 * @module
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { FaultInjector } from '../faults/injector.ts';
import { faultResponse } from '../faults/responses.ts';
import type { AppliedFault, FaultRule } from '../faults/types.ts';
import type { SimStore } from '../state/store.ts';
import type { RequestLog } from './request-log.ts';
import { splitUrl } from './redact.ts';
import { nodeOf, type ServiceName } from './service.ts';

export interface InstrumentationOptions {
  readonly service: ServiceName;
  readonly requestLog: RequestLog;
  readonly faults: FaultInjector;
  /** For `delete-identity` faults. */
  readonly store: SimStore;
  /** Aborted when the simulator stops: ends pending latency and hang faults at once. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

interface RequestState {
  readonly started: number;
  readonly time: string;
  fault?: AppliedFault;
  recorded: boolean;
}

/** Waits `ms`, or less if `signal` aborts first; never rejects. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // aborted: the simulator is stopping or the client went away
  }
}

const plugin: FastifyPluginCallback<InstrumentationOptions> = (app, options, done) => {
  const states = new WeakMap<FastifyRequest, RequestState>();
  const node = nodeOf(options.service);

  const record = (request: FastifyRequest, status: number): void => {
    const state = states.get(request);
    if (state === undefined || state.recorded) return;
    state.recorded = true;
    const { path, query } = splitUrl(request.url);
    const entry = options.requestLog.record({
      time: state.time,
      service: options.service,
      ...(node !== undefined ? { node } : {}),
      method: request.method,
      path,
      query,
      status,
      durationMs: Math.round((performance.now() - state.started) * 10) / 10,
      clientAddress: request.socket.remoteAddress ?? '',
      ...(request.headers['user-agent'] !== undefined ? { userAgent: request.headers['user-agent'].slice(0, 512) } : {}),
      ...(state.fault !== undefined ? { fault: state.fault } : {}),
    });
    options.logger.debug({ request: entry }, 'request');
  };

  /** Applies `rule`; returns the reply when the request must not go on to the routes. */
  const apply = async (rule: FaultRule, request: FastifyRequest, reply: FastifyReply, state: RequestState): Promise<FastifyReply | undefined> => {
    const { action } = rule;
    switch (action.kind) {
      case 'latency':
        state.fault = { ruleId: rule.id, kind: 'latency', ms: action.ms };
        await pause(action.ms, options.signal);
        return undefined;
      case 'delete-identity':
        state.fault = { ruleId: rule.id, kind: 'delete-identity' };
        if (!options.store.deleteIdentity(action.identityId)) options.logger.warn({ identityId: action.identityId, ruleId: rule.id }, 'delete-identity fault: no such identity');
        return undefined;
      case 'status': {
        state.fault = { ruleId: rule.id, kind: 'status', status: action.status };
        const response = faultResponse(options.service, request.method, action);
        return reply.code(response.status).headers(response.headers).send(response.body);
      }
      case 'drop':
        state.fault = { ruleId: rule.id, kind: 'drop' };
        reply.hijack();
        record(request, 0);
        request.raw.socket.destroy();
        return reply;
      case 'hang': {
        state.fault = { ruleId: rule.id, kind: 'hang', ms: action.ms };
        reply.hijack();
        const socket = request.raw.socket;
        const gone = new AbortController();
        const onClose = (): void => {
          gone.abort();
        };
        socket.once('close', onClose);
        await pause(action.ms, AbortSignal.any([options.signal, gone.signal]));
        socket.off('close', onClose);
        record(request, 0);
        socket.destroy();
        return reply;
      }
    }
  };

  app.addHook('onRequest', async (request, reply) => {
    const state: RequestState = { started: performance.now(), time: new Date().toISOString(), recorded: false };
    states.set(request, state);
    const mark = request.url.indexOf('?');
    const rule = options.faults.take({
      service: options.service,
      method: request.method,
      path: mark === -1 ? request.url : request.url.slice(0, mark),
      query: mark === -1 ? '' : request.url.slice(mark + 1),
    });
    if (rule === undefined) return undefined;
    options.logger.info({ service: options.service, method: request.method, url: splitUrl(request.url).path, rule: rule.id, fault: rule.action.kind }, 'injecting fault');
    return apply(rule, request, reply, state);
  });

  app.addHook('onResponse', (request, reply, done) => {
    record(request, reply.statusCode);
    done();
  });

  // The client went away before an answer: still one log entry, with status 0.
  app.addHook('onRequestAbort', (request, done) => {
    record(request, 0);
    done();
  });
  done();
};

/** The instrumentation plugin; register it before any route. */
export const instrumentation: FastifyPluginCallback<InstrumentationOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
});
