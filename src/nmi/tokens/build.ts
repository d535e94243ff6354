/**
 * The wiring of NMI's token path: each upstream client behind its decorators, one {@link route} per
 * kind of upstream, the cache over them all, and the {@link TokenService} in front. A new kind of
 * identity is its source file plus one `route(...)` line here.
 * @module
 */
import type { Logger } from 'pino';
import type { ResolvedCloud } from '../../azure/clouds.ts';
import { ImdsTokenClient } from '../../azure/imds-token-client.ts';
import type { KubeTarget } from '../../kube/access.ts';
import type { Clock } from '../../lib/clock.ts';
import type { NmiConfig } from '../config.ts';
import { UpstreamLimiter } from '../limits.ts';
import type { ImdsOperation, NmiMetrics } from '../metrics.ts';
import { FEDERATED_IDENTITIES, FederatedSource } from './federated-source.ts';
import { IMDS_IDENTITIES, imdsOperation, ImdsSource } from './imds-source.ts';
import { LimitedTokenSource } from './limited-source.ts';
import { MeasuredTokenSource } from './measured-source.ts';
import { SecretWatch } from './secret-watch.ts';
import { SERVICE_PRINCIPAL_IDENTITIES, ServicePrincipalSource } from './service-principal-source.ts';
import { CachingTokenSource } from './token-cache.ts';
import { TokenService } from './token-service.ts';
import type { TokenSource, Upstream } from './token-source.ts';
import { route, UpstreamRouter } from './upstream-router.ts';

export interface TokenPathOptions {
  readonly config: NmiConfig['tokens'];
  /** Scheme, host and port of the node's IMDS. */
  readonly imdsEndpoint: string;
  readonly cloud: Pick<ResolvedCloud, 'authorityHost' | 'knownAuthorityHost'>;
  readonly kubeConfig: KubeTarget;
  /** NMI's User-Agent for IMDS and Entra ID. */
  readonly userAgent: string;
  readonly metrics: NmiMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
}

export interface TokenPath {
  readonly tokens: TokenService;
  /** Stops the Secret watches and closes the pooled IMDS and Entra ID connections. */
  close(): Promise<void>;
}

/** Upstream's label for Entra ID calls; federated identities share it (the label set stays upstream's). */
const ENTRA_OPERATION = (): ImdsOperation => 'adal_token';

export function buildTokenPath(options: TokenPathOptions): TokenPath {
  const { config, metrics, clock } = options;
  const measured = <U extends Upstream>(source: TokenSource<U>, operationOf: (upstream: U) => ImdsOperation): TokenSource<U> =>
    new MeasuredTokenSource(source, { metrics, clock, operationOf });

  const imdsClient = new ImdsTokenClient({ endpoint: options.imdsEndpoint, userAgent: options.userAgent, clock });
  const imdsLimiter = new UpstreamLimiter({ maxConcurrent: config.imds.maxConcurrent, maxPerWindow: config.imds.maxPerSecond, windowMs: 1_000, queueTimeoutMs: 30_000, clock });
  const secrets = new SecretWatch({ kubeConfig: options.kubeConfig, logger: options.logger, clock });
  const servicePrincipals = new ServicePrincipalSource({
    cloud: options.cloud,
    secrets,
    onSecretError: () => {
      metrics.kubernetesError('get_secret');
    },
    userAgent: options.userAgent,
  });
  const federated = new FederatedSource({ cloud: options.cloud, tokenFile: config.federatedTokenFile, userAgent: options.userAgent });

  const upstreams = new UpstreamRouter([
    route(IMDS_IDENTITIES, new LimitedTokenSource(measured(new ImdsSource(imdsClient), imdsOperation), imdsLimiter)),
    route(SERVICE_PRINCIPAL_IDENTITIES, measured(servicePrincipals, ENTRA_OPERATION)),
    route(FEDERATED_IDENTITIES, measured(federated, ENTRA_OPERATION)),
  ]);
  const tokens = new TokenService({ cache: new CachingTokenSource(upstreams, { maxEntries: config.cacheSize, clock }), upstreams });

  // Built after the sources that read Secrets: a changed Secret drops the tokens of the identities that read it.
  secrets.onChange((namespace, name) => {
    for (const identity of servicePrincipals.takeUsersOf(namespace, name)) tokens.invalidate(identity);
  });
  metrics.reportTokenCache(() => tokens.stats());

  return {
    tokens,
    close: async () => {
      secrets.close();
      await Promise.all([imdsClient.close(), federated.close()]);
    },
  };
}
