/**
 * {@link KubeAccess} from a client-node KubeConfig: every authentication method client-node supports
 * (exec plugins, OIDC, client certificates, tokens).
 *
 * client-node builds a new undici Agent (so a new TLS connection) for every request it authenticates;
 * with thousands of writes that costs a handshake per request and hundreds of MB of idle sockets. We
 * keep the first dispatcher per kubeconfig and reuse its connection pool, renewing it now and then so
 * rotated client certificates are picked up. Headers (bearer tokens) are still applied per request.
 * @module
 */
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';
import type { KubeAccess, PreparedRequest } from './access.ts';

const DISPATCHER_TTL_MS = 10 * 60_000;

export function accessFromKubeConfig(kubeConfig: KubeConfig): KubeAccess {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error('kubeconfig has no current cluster');
  const server = cluster.server.replace(/\/+$/, '');
  let pooled: { dispatcher: Dispatcher | undefined; at: number } | undefined;
  return {
    server,
    async prepare(): Promise<PreparedRequest> {
      const context = new RequestContext(server, HttpMethod.GET);
      await kubeConfig.applySecurityAuthentication(context);
      const now = Date.now();
      if (pooled === undefined || now - pooled.at >= DISPATCHER_TTL_MS) {
        // The previous pool closes once its in-flight requests finish.
        void pooled?.dispatcher?.close().catch(() => undefined);
        pooled = { dispatcher: context.getDispatcher(), at: now };
      }
      return { headers: context.getHeaders(), dispatcher: pooled.dispatcher };
    },
  };
}
