/**
 * Simulated Entra ID (served over HTTPS by the simulator): the v1 and v2 token endpoints for the
 * client-credentials grant (an app's secret or certificate assertion, or a user-assigned identity's
 * federated assertion verified against its issuer's published keys), the OpenID discovery documents and JWKS
 * MSAL and token validators read, and instance discovery. Refusals are AADSTS errors in Entra's exact
 * JSON shape. Secrets and assertions are never logged.
 *
 * Routes (`{tenant}` = the tenant GUID or a `*.onmicrosoft.com` domain):
 * - `POST /{tenant}/oauth2/v2.0/token`, `POST /{tenant}/oauth2/token`
 * - `GET /{tenant}/v2.0/.well-known/openid-configuration`, `GET /{tenant}/.well-known/openid-configuration`
 * - `GET /{tenant}/discovery/v2.0/keys`, `GET /{tenant}/discovery/keys` (also `common`)
 * - `GET /common/discovery/instance`
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { SimStore } from '../state/store.ts';
import type { TokenIssuer } from '../tokens/issuer.ts';
import { AadstsError, aadsts, aadstsBody } from './aadsts.ts';
import { instanceDiscovery, openIdConfigurationV1, openIdConfigurationV2 } from './discovery.ts';
import { fetchIssuerKeys } from './oidc-fetch.ts';
import { OidcKeyCache } from './oidc-key-cache.ts';
import { resolveTenant } from './tenant.ts';
import { grantClientCredentials } from './token-endpoint.ts';
import { formFields, type TokenEndpointVersion } from './token-request.ts';

export interface EntraDeps {
  store: SimStore;
  issuer: TokenIssuer;
  /** Base URL clients reach this server at (issuer, token_endpoint in the OpenID configuration). */
  publicUrl: () => string;
  /** Extra CAs trusted when fetching OIDC issuers' metadata (read per fetch); default none. */
  oidcCaPems?: () => readonly string[];
  /** OIDC issuers' keys; default a cache fetching over HTTPS with `oidcCaPems` (tests inject their own). */
  oidcKeys?: OidcKeyCache;
  logger: Logger;
}

type TenantRoute = { Params: { tenant: string } };

/** Tenant aliases under which the signing keys are also published. */
const MULTI_TENANT_ALIASES = new Set(['common', 'organizations']);

export const entraRoutes: FastifyPluginAsync<EntraDeps> = (app, deps) => {
  registerFormParser(app);
  const oidcKeys = deps.oidcKeys ?? new OidcKeyCache({ fetchKeys: (issuer) => fetchIssuerKeys(issuer, { caPems: deps.oidcCaPems?.() ?? [] }) });
  // Per-request IDs Entra returns in headers and error bodies.
  const ids = new WeakMap<FastifyRequest, { traceId: string; correlationId: string }>();
  const idsOf = (request: FastifyRequest): { traceId: string; correlationId: string } => {
    let value = ids.get(request);
    if (value === undefined) {
      const sent = clientRequestId(request);
      value = { traceId: randomUUID(), correlationId: sent ?? randomUUID() };
      ids.set(request, value);
    }
    return value;
  };
  app.addHook('onRequest', (request, reply, done) => {
    const { traceId } = idsOf(request);
    const sent = clientRequestId(request);
    void reply.header('x-ms-request-id', traceId).header('cache-control', 'no-store, no-cache').header('pragma', 'no-cache');
    if (sent !== undefined) void reply.header('client-request-id', sent);
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const refusal = error instanceof AadstsError ? error : toAadstsError(error);
    if (refusal.statusCode >= 500) deps.logger.error({ err: error, url: request.url }, 'entra: internal error');
    else {
      // The cause says what the client is not told (e.g. why an OIDC issuer could not be read).
      const reason = refusal.cause instanceof Error ? refusal.cause.message : undefined;
      deps.logger.info({ aadsts: refusal.aadsts, url: request.routeOptions.url, ...(reason !== undefined ? { reason } : {}) }, 'entra: request refused');
    }
    const { traceId, correlationId } = idsOf(request);
    return reply
      .code(refusal.statusCode)
      .type('application/json; charset=utf-8')
      .send(aadstsBody(refusal, { traceId, correlationId, now: new Date(deps.issuer.nowSeconds() * 1000), baseUrl: baseUrlOf(request, deps) }));
  });

  const tenantOf = (request: FastifyRequest<TenantRoute>, oauthError: 'invalid_request' | 'invalid_tenant'): string => {
    const tenantId = resolveTenant(request.params.tenant, deps.store.tenantId);
    if (tenantId === undefined) throw aadsts.tenantNotFound(request.params.tenant, oauthError);
    return tenantId;
  };

  const tokenHandler =
    (version: TokenEndpointVersion) =>
    async (request: FastifyRequest<TenantRoute>, reply: FastifyReply): Promise<FastifyReply> => {
      const tenantId = tenantOf(request, 'invalid_request');
      const outcome = await grantClientCredentials({
        store: deps.store,
        issuer: deps.issuer,
        version,
        tenantId,
        tenantSegment: request.params.tenant,
        hosts: hostsOf(request, deps),
        form: formFields(request.headers['content-type'], request.body),
        oidcKeys,
      });
      const federated = outcome.federatedCredential !== undefined ? { federatedCredential: outcome.federatedCredential } : {};
      deps.logger.info({ version, appId: outcome.appId, credential: outcome.credential, aud: outcome.audience, ...federated }, 'entra: issued token');
      return reply.type('application/json; charset=utf-8').send(outcome.body);
    };
  app.post<TenantRoute>('/:tenant/oauth2/v2.0/token', tokenHandler('v2'));
  app.post<TenantRoute>('/:tenant/oauth2/token', tokenHandler('v1'));

  app.get<TenantRoute>('/:tenant/v2.0/.well-known/openid-configuration', (request) =>
    openIdConfigurationV2(baseUrlOf(request, deps), tenantOf(request, 'invalid_tenant')),
  );
  app.get<TenantRoute>('/:tenant/.well-known/openid-configuration', (request) =>
    openIdConfigurationV1(baseUrlOf(request, deps), tenantOf(request, 'invalid_tenant')),
  );

  const keysHandler = (request: FastifyRequest<TenantRoute>): Promise<unknown> => {
    if (!MULTI_TENANT_ALIASES.has(request.params.tenant.toLowerCase())) tenantOf(request, 'invalid_tenant');
    return deps.issuer.jwks();
  };
  app.get<TenantRoute>('/:tenant/discovery/v2.0/keys', keysHandler);
  app.get<TenantRoute>('/:tenant/discovery/keys', keysHandler);

  app.get<{ Querystring: { authorization_endpoint?: string } }>('/common/discovery/instance', (request) =>
    instanceDiscovery(baseUrlOf(request, deps), request.query.authorization_endpoint),
  );
  return Promise.resolve();
};

/** Form bodies become URLSearchParams; any other body is kept as text (so it carries no parameters). */
function registerFormParser(app: FastifyInstance): void {
  const form = 'application/x-www-form-urlencoded';
  if (!app.hasContentTypeParser(form)) {
    app.addContentTypeParser(form, { parseAs: 'string' }, (_request, body, done) => {
      done(null, new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8')));
    });
  }
  if (!app.hasContentTypeParser('*')) {
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
      done(null, body);
    });
  }
}

/** The client's `client-request-id` (MSAL sends it as a query parameter and as a header). */
function clientRequestId(request: FastifyRequest): string | undefined {
  const header = request.headers['client-request-id'];
  if (typeof header === 'string' && header !== '') return header;
  const query = request.query;
  if (typeof query === 'object' && query !== null && 'client-request-id' in query) {
    const value = (query as Record<string, unknown>)['client-request-id'];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/**
 * Scheme + host the client called (MSAL requires the discovered issuer on the authority's own
 * host:port); the configured public URL when the request has no Host header.
 */
function baseUrlOf(request: FastifyRequest, deps: EntraDeps): string {
  const host = request.headers.host;
  if (host !== undefined && host !== '') return `${request.protocol}://${host}`;
  return deps.publicUrl().replace(/\/+$/, '');
}

/** host[:port] values a client may have used for this server: the public URL's and the Host header's. */
function hostsOf(request: FastifyRequest, deps: EntraDeps): string[] {
  const hosts: string[] = [];
  try {
    hosts.push(new URL(deps.publicUrl()).host);
  } catch {
    // no public URL yet: the Host header alone decides
  }
  const host = request.headers.host;
  if (host !== undefined && host !== '') hosts.push(host);
  return hosts;
}

/** Errors from fastify itself (unreadable body…) read as a request without parameters; others are ours. */
function toAadstsError(error: unknown): AadstsError {
  const status = typeof error === 'object' && error !== null && 'statusCode' in error ? Number(error.statusCode) : 500;
  return status >= 400 && status < 500 ? aadsts.missingParameter('grant_type') : aadsts.internal(error);
}
