/**
 * Simulated IMDS for one node (plain HTTP; the simulator runs one listener per node, so which VM a
 * request is for is decided by the address it arrived on). Serves:
 * - `GET /metadata/identity/oauth2/token` — tokens for the identities on this node's VM or scale set
 *   only, with IMDS's real errors, its token cache and its per-VM limits (429 beyond them);
 * - `GET /metadata/instance[/…]` — compute and network metadata (`format=text` for leaves);
 * - `GET /metadata/versions`;
 * - anything else: 404 JSON. Every response body is JSON (or text for `format=text`).
 * @module
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { SimStore } from '../state/store.ts';
import type { TokenIssuer } from '../tokens/issuer.ts';
import { IMDS_API_VERSIONS, ImdsError, imdsErrors, isApiVersion } from './errors.ts';
import { answerTokenRequest, hasMetadataHeader } from './identity-endpoint.ts';
import { instanceMetadata, metadataAsText, selectMetadata } from './instance-metadata.ts';
import { IdentityRequestLimiter } from './limiter.ts';
import { classifyImdsPath, queryOf, queryParam } from './paths.ts';
import { ManagedIdentityTokenCache } from './token-cache.ts';

export interface ImdsDeps {
  store: SimStore;
  issuer: TokenIssuer;
  /** The Kubernetes node (VM name or VMSS instance computer name) this IMDS answers for. */
  nodeName: string;
  /**
   * Managed Identity category limits per VM (real IMDS: 20 requests/s and 5 concurrent); false = off.
   * Read on every request, so they can be changed at run time through this object.
   */
  limits: { requestsPerSecond: number; maxConcurrent: number } | false;
  logger: Logger;
}

/** The `Server` header real IMDS sends (seen in azure-sdk-for-net#37278). */
const SERVER_HEADER = 'IMDS/150.870.65.1015';
const JSON_TYPE = 'application/json; charset=utf-8';

export const imdsRoutes: FastifyPluginAsync<ImdsDeps> = (app, deps) => {
  const limiter = new IdentityRequestLimiter();
  const cache = new ManagedIdentityTokenCache();
  const releases = new WeakMap<FastifyRequest, () => void>();

  app.setErrorHandler((error, request, reply) => {
    let refusal: ImdsError;
    const frameworkStatus = (error as { statusCode?: unknown }).statusCode;
    if (error instanceof ImdsError) {
      refusal = error;
    } else if (typeof frameworkStatus === 'number' && frameworkStatus >= 400 && frameworkStatus < 500) {
      // fastify's own refusals (unparseable or unsupported body, too large) are the client's fault, not a 500.
      refusal = new ImdsError(frameworkStatus, { error: 'invalid_request', error_description: (error as Error).message });
    } else {
      deps.logger.error({ err: error, node: deps.nodeName, url: request.url }, 'imds: internal error');
      refusal = new ImdsError(500, { error: 'unknown', error_description: 'Failed to retrieve token from the Active directory' });
    }
    if (refusal.statusCode !== 500) deps.logger.info({ node: deps.nodeName, status: refusal.statusCode, error: refusal.message }, 'imds: request refused');
    return reply.code(refusal.statusCode).header('server', SERVER_HEADER).type(JSON_TYPE).send(refusal.body);
  });

  // Identity requests are admitted (or refused with 429) first and count as in flight until the
  // response is finished, whatever runs between.
  app.addHook('onRequest', (request, reply, done) => {
    if (classifyImdsPath(request.url).kind !== 'identity-token') {
      done();
      return;
    }
    const admission = limiter.admit(deps.limits);
    if (!admission.admitted) {
      done(imdsErrors.tooManyRequests(admission.reason));
      return;
    }
    releases.set(request, admission.release);
    reply.raw.once('close', admission.release);
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    releases.get(request)?.();
    done();
  });

  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const route = classifyImdsPath(request.url);
    if (route.kind === 'unknown') throw imdsErrors.notFound();
    if (request.method !== 'GET') throw imdsErrors.methodNotAllowed();
    const query = queryOf(request.url);
    void reply.header('server', SERVER_HEADER);

    if (route.kind === 'identity-token') {
      const body = await answerTokenRequest({ headers: request.headers, query }, { store: deps.store, issuer: deps.issuer, nodeName: deps.nodeName, cache });
      deps.logger.info({ node: deps.nodeName, clientId: body.client_id, resource: body.resource }, 'imds: token');
      return reply.type(JSON_TYPE).send(body);
    }

    if (request.headers['x-forwarded-for'] !== undefined) throw imdsErrors.forwardedRequest();
    if (!hasMetadataHeader(request.headers)) throw imdsErrors.instanceMetadataHeaderMissing();
    if (route.kind === 'versions') return reply.type(JSON_TYPE).send({ apiVersions: [...IMDS_API_VERSIONS].reverse() });
    if (!isApiVersion(queryParam(query, 'api-version'))) throw imdsErrors.apiVersionMissing();
    if (route.kind === 'other-metadata') throw imdsErrors.notFound();

    const target = deps.store.findComputeByNodeName(deps.nodeName);
    if (target === undefined) throw imdsErrors.notFound();
    const document = instanceMetadata(target, deps.nodeName);
    const value = selectMetadata(document, route.path);
    if (value === undefined) throw imdsErrors.notFound();
    if (queryParam(query, 'format')?.toLowerCase() === 'text') return reply.type('text/plain; charset=utf-8').send(metadataAsText(value));
    return reply.type(JSON_TYPE).send(JSON.stringify(value));
  };

  app.all('/', handle);
  app.all('/*', handle);
  // Methods app.all does not cover (SEARCH, PROPFIND …) get IMDS's 404 too, not fastify's default body.
  app.setNotFoundHandler(() => {
    throw imdsErrors.notFound();
  });
  return Promise.resolve();
};
