/**
 * NMI's entry point: parse flags and environment once, then wire and run the parts — the token path
 * (tokens/), the node's view and identity decisions (identity/), the token listener(s) (http/, once
 * caches synced), the iptables manager and other node duties (node/), and the health and metrics
 * servers. Exit codes: 0 after SIGTERM/SIGINT, 1 on a runtime failure, 2 on bad configuration. On
 * stop the interception rules stay (fail-closed) unless `--cleanup-iptables-on-exit`.
 * @module
 */
import type { Logger } from 'pino';
import { serveNodeHttpWithoutUndici } from '../lib/esm-node-http.ts';
import { resolveCloud } from '../azure/clouds.ts';
import { identifiedAccess, KUBE_COMPONENT, kubeUserAgent } from '../kube/client-identity.ts';
import { loadKubeAccess } from '../kube/lite-kubeconfig.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { describeError, TerminalError } from '../lib/errors.ts';
import { buildHealthApp } from '../lib/health-app.ts';
import { HttpServer } from '../lib/http-server.ts';
import { KeyedWaiter } from '../lib/keyed-waiter.ts';
import { runAll, runnable, stopsEarly, type Runnable } from '../lib/lifecycle.ts';
import { LogFileError } from '../lib/log-file.ts';
import { createLogger } from '../lib/logger.ts';
import { buildMetricsApp } from '../lib/metrics-app.ts';
import { ConfigError, nmiHelp, parseNmiCommand, type NmiConfig } from './config.ts';
import { buildNmiApp } from './http/app.ts';
import { NmiHandler } from './http/handler.ts';
import { ImdsProxy } from './http/proxy.ts';
import { IdentityFinder, namespaceObjectsKey } from './identity/identity-finder.ts';
import { createNmiInformers } from './identity/informers.ts';
import { NodeView } from './identity/node-view.ts';
import { KeyedRateLimiter } from './limits.ts';
import { NmiMetrics } from './metrics.ts';
import { handoverOnStop, successorReadyUrls } from './node/handover.ts';
import { execConntrack, execConntrackReversePickups } from './node/iptables/conntrack.ts';
import { execIptables } from './node/iptables/iptables.ts';
import { cleanupIptables, IptablesManager } from './node/iptables/manager.ts';
import { AAD_METADATA_CHAIN, GUARD_CHAIN, MIGRATION_CHAIN, type IptablesConfig } from './node/iptables/rules.ts';
import { checkKubenet } from './node/kubenet.ts';
import { startupTaintRemoval } from './node/node-taint.ts';
import { ensureTcpMigrateReq } from './node/tcp-migrate-req.ts';
import { uninstallWatch } from './node/uninstall-watch.ts';
import { buildTokenPath } from './tokens/build.ts';

export const NMI_VERSION = '0.1.0';
/** How long a stopping NMI keeps answering requests on connections already open (then closes them). */
export const TOKEN_DRAIN_MS = 2_000;

/** The rules NMI keeps; `withGuard` forces the guard in (cleanup removes one left by an earlier run with --ipt-guard). */
export function iptablesConfigOf(config: NmiConfig, withGuard = config.iptables.guard): IptablesConfig {
  return {
    chain: config.iptables.chain,
    // Back on upstream's chain name after a migration: the migration chain is ours and can go.
    retiredChains: config.iptables.chain === AAD_METADATA_CHAIN ? [MIGRATION_CHAIN] : [],
    metadataIp: config.metadata.ip,
    metadataPort: config.metadata.port,
    targetIp: config.iptables.dnatIp,
    targetPort: config.iptables.dnatPort,
    ...(withGuard ? { guardChain: GUARD_CHAIN } : {}),
  };
}

/** Runs an HTTP server only after `ready` resolves (the informer caches synced). */
function afterSync(server: HttpServer, ready: (signal: AbortSignal) => Promise<void>): Runnable {
  return runnable(server.name, async (signal) => {
    await ready(signal);
    await server.run(signal);
  });
}

export async function runNmi(config: NmiConfig, env: NodeJS.ProcessEnv, signal: AbortSignal, logger: Logger, clock: Clock = systemClock): Promise<void> {
  for (const notice of config.notices) logger.warn({ setting: notice.setting }, notice.message);
  await checkKubenet(config.kubenet, logger);
  // Not client-node's KubeConfig: loading client-node costs NMI ~90 MB (docs/nmi.md, Memory).
  const kubeConfig = identifiedAccess(loadKubeAccess({ kubeconfigPath: config.kubeconfig, env }), {
    userAgent: kubeUserAgent({ component: KUBE_COMPONENT.nmi, version: NMI_VERSION, customUserAgent: config.customUserAgent }),
    fieldManager: KUBE_COMPONENT.nmi,
  });
  const userAgent = `aad-pod-identity/NMI/${NMI_VERSION}${config.customUserAgent === undefined ? '' : ` ${config.customUserAgent}`}`;
  const cloud = await resolveCloud({ cloud: config.tokens.cloud, activeDirectoryEndpoint: config.tokens.authorityHost }, { env });

  // Built in dependency order: metrics, the token path (which reports to them), then the view whose
  // events drop cached tokens, then the request handling that reads both.
  const metrics = new NmiMetrics({ operationLabel: config.metricsOperationType });
  const tokenPath = buildTokenPath({
    config: config.tokens,
    imdsEndpoint: `http://${config.metadata.ip}:${String(config.metadata.port)}`,
    cloud,
    kubeConfig,
    userAgent,
    metrics,
    logger,
    clock,
  });
  const { tokens } = tokenPath;
  const perPod = new KeyedRateLimiter({ ratePerSec: config.tokens.perPod.ratePerSec, burst: config.tokens.perPod.burst, clock });
  const waiter = new KeyedWaiter(clock);
  const addresses = new KeyedWaiter(clock);
  const informers = createNmiInformers(kubeConfig, logger, { nodeName: config.nodeName, mode: config.mode, watchNodeAssignmentsOnly: config.watchNodeAssignmentsOnly, clock });
  const view = new NodeView(informers, {
    onAssignmentChange: (namespace, name) => {
      waiter.notify(`${namespace}/${name}`);
    },
    onPodAddress: (ip) => {
      addresses.notify(ip);
    },
    onNamespaceObjectsChange: (namespace) => {
      waiter.notify(namespaceObjectsKey(namespace));
    },
    onIdentityChange: (identity) => {
      tokens.invalidate(identity);
    },
    onPodGone: (pod) => {
      for (const ip of pod.ips) perPod.forget(ip);
      // Requests of a deleted pod waiting for its assignment re-check and are answered at once.
      waiter.notify(`${pod.namespace}/${pod.name}`);
    },
  }, clock);
  const finder = new IdentityFinder(view, waiter, {
    mode: config.mode,
    namespaced: config.namespaced,
    micNamespace: config.micNamespace,
    ...config.standardMode,
    clock,
  });
  const handler = new NmiHandler({
    view,
    addresses,
    finder,
    tokens,
    perPod,
    metrics,
    logger,
    clock,
    options: {
      nodeName: config.nodeName,
      metadataHeaderRequired: config.metadataHeaderRequired,
      blockInstanceMetadata: config.blockInstanceMetadata,
      retryAfterSeconds: config.retryAfterSeconds,
      podLookup: { attempts: 5, intervalMs: 300 },
    },
  });
  const proxy = new ImdsProxy({ metadataIp: config.metadata.ip, metadataPort: config.metadata.port });
  const host = config.hostTokenListener;
  // One listener serves both when they coincide (a wildcard token listener includes 127.0.0.1): /host/token
  // is still answered only to 127.0.0.1, which DNATed pod traffic (it keeps the pod's address) never is.
  const wildcard = config.tokenListener.host === '0.0.0.0' || config.tokenListener.host === '::';
  const shared = host !== undefined && host.port === config.tokenListener.port && (host.host === config.tokenListener.host || wildcard);
  // With a handover every listener shares its port with the NMI that replaces this one (node/handover.ts).
  const reusePort = config.handoverTimeoutMs > 0;
  if (reusePort && config.handoverTcpMigrateReq) {
    const migrate = await ensureTcpMigrateReq();
    if (migrate.state === 'unavailable') logger.warn({ reason: migrate.reason }, 'handover: net.ipv4.tcp_migrate_req cannot be set; when this NMI stops, a pod connecting in that instant may see one reset (docs/nmi.md, Handover)');
    else if (migrate.state === 'turned-on') logger.info('handover: set net.ipv4.tcp_migrate_req=1 so closing a listener hands its waiting connections to the successor');
  }
  // A stop answers what open connections still ask instead of cutting them: under a handover new ones
  // already go to the successor (docs/nmi.md), so a roll or a migration cuts no request.
  const drainMs = TOKEN_DRAIN_MS;
  const tokenServer = new HttpServer({ name: 'token server', app: buildNmiApp({ handler, proxy, hostListener: shared, logger }), ...config.tokenListener, reusePort, drainMs });
  const hostServer = host === undefined || shared ? undefined : new HttpServer({ name: 'host token server', app: buildNmiApp({ handler, proxy, hostListener: true, logger }), ...host, reusePort, drainMs });

  // Without managed rules there is nothing to wait for: NMI is active once it serves.
  let intercepting = !config.iptables.manage;
  const installed = Promise.withResolvers<undefined>();
  if (intercepting) installed.resolve(undefined);
  const iptablesConfig = iptablesConfigOf(config);
  const runner = execIptables();
  const iptables = new IptablesManager({
    config: iptablesConfig,
    runner,
    logger,
    clock,
    intervalMs: config.iptables.intervalMs,
    flushConntrack: config.iptables.flushConntrack,
    conntrack: execConntrack(),
    reversePickups: execConntrackReversePickups(),
    // Beside another NMI still redirecting pods (a migration, a replaced NMI): ours first only once we serve.
    untilServing: () => tokenServer.listening(),
    onSynced: () => {
      intercepting = true;
      installed.resolve(undefined);
    },
    onRestored: () => {
      metrics.iptablesRestored();
    },
    onError: () => {
      metrics.iptablesFailed();
    },
  });
  const synced = (partSignal: AbortSignal): Promise<void> => Promise.all(informers.all.map((informer) => informer.waitForSync(partSignal))).then(() => undefined);
  // Ready only once pods can be answered: rules in, caches synced, token listeners bound.
  const serving = (): boolean => tokenServer.address !== undefined && (hostServer === undefined || hostServer.address !== undefined);
  const health = new HttpServer({ name: 'health server', app: buildHealthApp({ isActive: () => intercepting, isReady: () => intercepting && view.synced && serving() }, logger), ...config.healthServer, reusePort });
  const metricsServer = new HttpServer({ name: 'metrics server', app: buildMetricsApp(metrics, logger), ...config.metricsServer, reusePort });

  const lifecycle = { uninstalling: false };
  const ownDaemonSet = config.iptables.daemonSet;
  const uninstall =
    ownDaemonSet === undefined || !config.iptables.manage
      ? undefined
      : uninstallWatch({ kubeConfig, namespace: ownDaemonSet.namespace, daemonSet: ownDaemonSet.name, logger, clock, onUninstall: () => { lifecycle.uninstalling = true; } });
  // The startup taint goes only once pods on this node are intercepted and can be answered.
  const taintKey = config.iptables.notReadyTaint;
  const startupTaint =
    taintKey === undefined ? undefined : startupTaintRemoval({ kubeConfig, nodeName: config.nodeName, key: taintKey, logger, clock, installed: installed.promise, synced });
  // Loaded only with --enableProfile: node:inspector and the profile app stay out of NMI otherwise.
  const profile = config.profileServer === undefined ? undefined : (await import('../lib/profile-app.ts')).profileServer({ program: 'nmi', port: config.profileServer.port, logger, clock });
  const parts: Runnable[] = [
    stopsEarly(health, signal),
    stopsEarly(metricsServer, signal),
    // Closes at SIGTERM too, so the NMI replacing this one (handover) gets the port.
    ...(profile === undefined ? [] : [stopsEarly(profile, signal)]),
    // Under a handover the successor keeps the rules; a stopping NMI must not put back a chain the
    // successor retired (a migration chain) while it lingers.
    ...(config.iptables.manage ? [reusePort ? stopsEarly(iptables, signal) : iptables] : []),
    ...informers.all.map((informer) => runnable(`informer ${informer.name}`, (partSignal) => informer.run(partSignal))),
    afterSync(tokenServer, synced),
    ...(hostServer === undefined ? [] : [afterSync(hostServer, synced)]),
    ...(uninstall === undefined ? [] : [runnable('uninstall watch', (partSignal) => uninstall.run(partSignal))]),
    ...(startupTaint === undefined ? [] : [startupTaint]),
  ];
  logger.info(
    { version: NMI_VERSION, node: config.nodeName, mode: config.mode, namespaced: config.namespaced, listen: `${config.tokenListener.host}:${String(config.tokenListener.port)}`, dnat: `${config.iptables.dnatIp}:${String(config.iptables.dnatPort)}` },
    'NMI starting',
  );
  const stopped = handoverOnStop(signal, {
    timeoutMs: config.handoverTimeoutMs,
    successorUrls: successorReadyUrls(config.healthServer, config.handoverProbePort),
    // Nothing to hand over before this NMI intercepted; an uninstall removes the rules instead.
    cancelled: () => !intercepting || lifecycle.uninstalling,
    clock,
    logger,
  });
  try {
    await runAll(parts, stopped);
  } finally {
    await tokenPath.close();
    await proxy.close();
    if (config.iptables.manage && (config.iptables.cleanupOnExit || lifecycle.uninstalling)) {
      await cleanupIptables(iptablesConfigOf(config, true), runner, logger).catch((error: unknown) => {
        logger.error({ err: describeError(error) }, 'removing the iptables rules failed');
      });
    }
  }
}

/** `pod-identity nmi cleanup`: remove the interception rules (uninstall). */
export async function cleanupNmiIptables(config: NmiConfig, logger: Logger): Promise<number> {
  const commands = await cleanupIptables(iptablesConfigOf(config, true), execIptables(), logger);
  return commands.length;
}

/**
 * `nmi [flags]` runs NMI until `shutdown` aborts; `nmi cleanup [flags]` removes the interception rules
 * (same flags, so a custom --metadata-ip/--metadata-port is honoured). Resolves to the exit code.
 */
export async function nmiMain(argv: readonly string[], env: NodeJS.ProcessEnv, shutdown: AbortSignal, out: { write(text: string): unknown } = process.stdout, err: { write(text: string): unknown } = process.stderr): Promise<number> {
  const cleanup = argv[0] === 'cleanup';
  let command;
  try {
    // Cleanup needs neither a node name nor a DNAT address: give placeholders unless set.
    command = parseNmiCommand(cleanup ? argv.slice(1) : argv, cleanup ? { NODE_NAME: 'cleanup', NODE_IP: '127.0.0.1', ...env } : env);
  } catch (error) {
    if (error instanceof ConfigError) {
      err.write(`nmi: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (command.kind === 'help') {
    out.write(command.text.length > 0 ? command.text : nmiHelp());
    return 0;
  }
  if (command.kind === 'version') {
    out.write(`nmi ${NMI_VERSION} (node ${process.version})\n`);
    return 0;
  }
  const { config } = command;
  // Buffered: NMI logs an audit record per token, on its hot path.
  let logger;
  try {
    logger = createLogger({ format: config.log.format, level: config.log.level, component: 'nmi', buffered: true, output: config.log.output });
  } catch (error) {
    if (!(error instanceof LogFileError)) throw error;
    err.write(`nmi: ${error.message}\n`);
    return 2;
  }
  if (cleanup) {
    try {
      const removed = await cleanupNmiIptables(config, logger);
      logger.info({ commands: removed }, removed === 0 ? 'no interception rules were installed' : 'interception rules removed');
      return 0;
    } catch (error) {
      logger.error({ err: describeError(error) }, 'removing the interception rules failed');
      return 1;
    }
  }
  shutdown.addEventListener(
    'abort',
    () => {
      logger.info({ reason: String(shutdown.reason) }, 'shutting down');
    },
    { once: true },
  );
  try {
    await runNmi(config, env, shutdown, logger);
    return 0;
  } catch (error) {
    logger.error({ err: describeError(error) }, 'NMI stopped');
    return error instanceof TerminalError ? 2 : 1;
  }
}

if (import.meta.main) {
  // NMI's own modules read node:http's CommonJS exports; this keeps the Azure SDK, loaded on demand for
  // service principals and federated identities, from loading Node's undici when run unbundled (the
  // image's bundle gets the same from scripts/bundle-nmi.ts).
  serveNodeHttpWithoutUndici();
  const stop = new AbortController();
  for (const name of ['SIGTERM', 'SIGINT'] as const) process.once(name, () => { stop.abort(name); });
  process.exitCode = await nmiMain(process.argv.slice(2), process.env, stop.signal);
}
