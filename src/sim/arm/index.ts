/**
 * The simulated Azure Resource Manager as a fastify plugin: Compute VMs and scale sets (identity
 * merge semantics, long-running operations), user-assigned managed identities and their federated
 * identity credentials, role definitions and role assignments, subscriptions and resource groups —
 * enough for unmodified `@azure/arm-compute`, `@azure/arm-msi`, `@azure/arm-authorization` clients
 * and the az CLI.
 *
 * Every call needs a bearer token from the simulated Entra ID (401 otherwise) for ARM's public audiences
 * or this ARM's own endpoints, and an `api-version` (any value; federated identity credentials need
 * 2023-01-31 or later). Paths are matched case-insensitively by {@link parseArmPath}, so the plugin
 * registers one catch-all route; errors are rendered in one place as ARM's `{"error":{…}}` envelope.
 * `lroDurationMs` and `enforceRbac` are read from the deps object on every request.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { acceptedAudiences, authenticate } from './auth.ts';
import type { ArmContext, ArmDeps } from './context.ts';
import { dispatch } from './dispatch.ts';
import { ArmError, invalidRequestContent, missingApiVersion, noSuchRoute } from './errors.ts';
import { OperationTracker } from './operations.ts';
import { parseArmPath } from './paths.ts';
import { RateLimitCounters } from './rate-limit.ts';

export type { ArmDeps } from './context.ts';
export { ArmError } from './errors.ts';
export { BUILT_IN_ROLES, ROLE_IDS } from './built-in-roles.ts';

/** Options of {@link createArmRoutes}; only tests need them. */
export interface ArmRoutesOptions {
  /** Time source for operations and rate-limit windows; default the system clock. */
  readonly clock?: Clock;
}

/** Parses any body as JSON (ARM clients send `application/json`); an empty body is "no body". */
function parseJsonBody(_request: FastifyRequest, body: string, done: (error: Error | null, value?: unknown) => void): void {
  if (body.trim() === '') {
    done(null, undefined);
    return;
  }
  try {
    done(null, JSON.parse(body) as unknown);
  } catch (error) {
    done(invalidRequestContent(error instanceof Error ? error.message : 'invalid JSON'));
  }
}

/** Request and correlation IDs as ARM sends them; the caller's `x-ms-client-request-id` is echoed. */
function requestIdHeaders(request: FastifyRequest): Record<string, string> {
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const clientRequestId = header('x-ms-client-request-id');
  return {
    'x-ms-request-id': randomUUID(),
    'x-ms-correlation-request-id': header('x-ms-correlation-request-id') ?? randomUUID(),
    ...(clientRequestId !== undefined ? { 'x-ms-client-request-id': clientRequestId } : {}),
  };
}

/** Builds the plugin; {@link armRoutes} is the production instance. */
export function createArmRoutes(options: ArmRoutesOptions = {}): FastifyPluginAsync<ArmDeps> {
  // eslint-disable-next-line @typescript-eslint/require-await -- fastify plugins are async functions
  return async (app, deps) => {
    const clock = options.clock ?? systemClock;
    const operations = new OperationTracker(clock, (error, operation) => {
      deps.logger.error({ err: error, operationId: operation.id, resourceId: operation.resourceId }, 'completing a compute operation failed');
    });
    const rateLimits = new RateLimitCounters(clock);
    const context: ArmContext = { deps, store: deps.store, clock, operations };

    app.addHook('onClose', (_instance, done) => {
      operations.close();
      done();
    });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, parseJsonBody);

    app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
      let armError: ArmError;
      if (error instanceof ArmError) {
        armError = error;
      } else {
        const status = typeof (error as { statusCode?: unknown } | null)?.statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
        armError =
          status < 500
            ? invalidRequestContent(error instanceof Error ? error.message : 'bad request')
            : new ArmError(500, 'InternalServerError', 'Encountered internal server error. Diagnostic information: simulator failure.');
        if (status >= 500) deps.logger.error({ err: error, method: request.method, url: request.url }, 'ARM simulator failure');
      }
      return reply.code(armError.status).headers(armError.headers).send(armError.toBody());
    });

    app.route({
      method: ['GET', 'PUT', 'PATCH', 'DELETE', 'POST'],
      url: '/*',
      handler: async (request, reply) => {
        reply.headers(requestIdHeaders(request));
        operations.settleDue();
        const route = parseArmPath(request.url);
        const audiences = acceptedAudiences([deps.publicUrl(), ...(deps.endpoints?.() ?? [])]);
        const caller = await authenticate(request.headers.authorization, deps.issuer, deps.store.tenantId, clock.now(), audiences);
        reply.headers(rateLimits.take(route, request.method));
        const query = new URLSearchParams(request.url.split('?').slice(1).join('?'));
        const apiVersion = query.get('api-version');
        if (apiVersion === null || apiVersion === '') throw missingApiVersion();
        // Operation URLs name the host the client called (through a forwarder that is not the
        // listener's address), with the public URL's scheme, as real ARM answers on the host called.
        const host = request.headers.host;
        const publicUrl = deps.publicUrl();
        const baseUrl = host === undefined || host === '' ? publicUrl : `${new URL(publicUrl).protocol}//${host}`;
        if (route === undefined) throw noSuchRoute(baseUrl + request.url);
        // fastify answers HEAD with the GET handler; ARM treats it as a GET without a body.
        const method = request.method === 'HEAD' ? 'GET' : request.method;
        const response = dispatch(context, route, { method, url: request.url, query, apiVersion, baseUrl, body: request.body, caller });
        reply.code(response.status).headers(response.headers ?? {});
        return response.body === undefined ? reply.send() : reply.send(response.body);
      },
    });
  };
}

/** The ARM routes; register on the ARM HTTPS server with {@link ArmDeps}. */
export const armRoutes: FastifyPluginAsync<ArmDeps> = createArmRoutes();
