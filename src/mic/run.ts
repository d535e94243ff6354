/**
 * MIC itself, started by ./main.ts: parse flags and environment once, connect to Kubernetes and ARM,
 * then run the health and metrics servers and the informers on every replica, and the reconcilers on
 * the leader. Exit codes: 0 after SIGTERM/SIGINT, 1 on a runtime failure (including lost leadership,
 * so the pod restarts clean, as upstream), 2 on bad configuration.
 * @module
 */
import type { KubeAccess } from '../kube/access.ts';
import type { Logger } from 'pino';
import { loadCloudConfig, type CloudConfig } from '../azure/cloud-config.ts';
import { watchCloudConfig } from '../azure/cloud-config-watch.ts';
import type { ComputeIdentityClient } from '../azure/compute-identity-client.ts';
import { connectAzure } from '../azure/connect.ts';
import { ThrottledError } from '../azure/errors.ts';
import { systemClock } from '../lib/clock.ts';
import { describeError, TerminalError } from '../lib/errors.ts';
import { runAll, runnable } from '../lib/lifecycle.ts';
import { createLogger } from '../lib/logger.ts';
import { LogFileError } from '../lib/log-file.ts';
import { loadAnyKubeAccess } from '../kube/load-access.ts';
import { identifiedAccess, KUBE_COMPONENT, kubeUserAgent } from '../kube/client-identity.ts';
import { EventRecorder } from '../kube/events.ts';
import { RequestLimiter } from '../kube/request-limiter.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { EVENT_SOURCE_COMPONENT } from '../api/index.ts';
import { AssignedIdentityWriter } from './assigned-writer.ts';
import { ConfigError, parseMicCommand, micHelp, type MicConfig } from './config.ts';
import { MicController } from './controller.ts';
import { micHealthServer, micMetricsServer } from './health-server.ts';
import { createMicInformers } from './informers.ts';
import { MicMetrics } from './metrics.ts';
import { ReadinessController } from './readiness-controller.ts';
import { TargetReconciler } from './reconcile-target.ts';
import { MIC_RETRY_POLICY } from './retry-policy.ts';
import { TargetState } from './target-state.ts';
import { recordTypeUpgrade } from './type-upgrade.ts';
import { MicView } from './view.ts';
import { WriteTracker } from './write-tracker.ts';

export const MIC_VERSION = '0.1.0';

/**
 * MIC's access to the API server, named `pod-identity-mic` (User-Agent and field manager), and
 * paced by `--clientQps` when given. The leader lock gets the same identity and connections
 * without the pacing: a backlog of writes must never delay a renewal past the lease.
 */
async function kubeAccesses(config: MicConfig, env: NodeJS.ProcessEnv): Promise<{ kube: KubeAccess; leaderLock: KubeAccess }> {
  const base = await loadAnyKubeAccess({ kubeconfigPath: config.kubeconfig, env });
  const identity = {
    userAgent: kubeUserAgent({ component: KUBE_COMPONENT.mic, version: MIC_VERSION, customUserAgent: config.kubeClient.customUserAgent }),
    fieldManager: KUBE_COMPONENT.mic,
  };
  const rate = config.kubeClient.rate;
  return {
    kube: identifiedAccess(base, { ...identity, limiter: rate === undefined ? undefined : new RequestLimiter(rate) }),
    leaderLock: identifiedAccess(base, identity),
  };
}

/** The ARM client in use; replaced when azure.json changes, so reconciles pick up new credentials. */
class SwappableComputeClient implements ComputeIdentityClient {
  current: ComputeIdentityClient;

  constructor(initial: ComputeIdentityClient) {
    this.current = initial;
  }

  getIdentity(...args: Parameters<ComputeIdentityClient['getIdentity']>): ReturnType<ComputeIdentityClient['getIdentity']> {
    return this.current.getIdentity(...args);
  }

  patchIdentity(...args: Parameters<ComputeIdentityClient['patchIdentity']>): ReturnType<ComputeIdentityClient['patchIdentity']> {
    return this.current.patchIdentity(...args);
  }
}

/** Client IDs / resource IDs never removed: `--immutable-user-msis` plus the cluster identity. */
function immutableSet(config: MicConfig, cloud: CloudConfig): ReadonlySet<string> {
  const ids = new Set(config.immutableClientIds.map((id) => id.toLowerCase()));
  if (cloud.userAssignedIdentityID !== undefined && cloud.userAssignedIdentityID !== '') ids.add(cloud.userAssignedIdentityID.toLowerCase());
  return ids;
}

export async function runMic(config: MicConfig, env: NodeJS.ProcessEnv, signal: AbortSignal, logger: Logger): Promise<void> {
  for (const notice of config.notices) logger.warn({ setting: notice.setting }, notice.message);
  const clock = systemClock;
  const metrics = new MicMetrics();
  const { kube, leaderLock } = await kubeAccesses(config, env);
  let cloudConfig = await loadCloudConfig({ path: config.cloudConfigPath, env });
  const userAgent = `aad-pod-identity/MIC/${MIC_VERSION}${config.kubeClient.customUserAgent === undefined ? '' : ` ${config.kubeClient.customUserAgent}`}`;
  const connect = async (cloud: CloudConfig): Promise<ComputeIdentityClient> =>
    (
      await connectAzure(cloud, {
        env,
        logger,
        userAgent,
        clock,
        transientRetry: { maxRetries: config.reconcile.armRetry.maxRetries, baseDelayMs: config.reconcile.armRetry.firstDelayMs, maxDelayMs: MIC_RETRY_POLICY.arm.transientRetryMaxDelayMs },
        defaultThrottleMs: MIC_RETRY_POLICY.arm.defaultThrottleMs,
        conflictRetryMs: MIC_RETRY_POLICY.arm.conflictRetryMs,
        deletingRetryMs: MIC_RETRY_POLICY.arm.deletingRetryMs,
        onOperation: (operation) => {
          // Calls the throttle gate refused never reached ARM: not an ARM operation (nor a write).
          if (operation.error instanceof ThrottledError && !operation.error.requestSent) return;
          metrics.observeCloudOperation(operation.type, operation.durationMs / 1000, operation.error !== undefined);
        },
      })
    ).compute;
  const arm = new SwappableComputeClient(await connect(cloudConfig));
  let immutable = immutableSet(config, cloudConfig);

  const informers = createMicInformers(kube, logger, clock);
  const view = new MicView(informers, { forceNamespaced: config.namespaced }, () => clock.now());
  const events = new EventRecorder({ kubeConfig: kube, component: EVENT_SOURCE_COMPONENT, instance: config.leaderElection.identity, logger, clock });
  const targetState = new TargetState({ identityCacheTtlMs: MIC_RETRY_POLICY.identityCacheTtlMs });
  const reconciler = new TargetReconciler({
    view,
    writer: new AssignedIdentityWriter(kube),
    arm,
    events,
    writes: new WriteTracker(MIC_RETRY_POLICY.ownWriteWaitMs),
    state: targetState,
    clock,
    logger,
    immutable: () => immutable,
    gracePeriodMs: config.reconcile.identityRemovalGracePeriodMs,
    writeConcurrency: config.reconcile.writeConcurrency,
    observe: (outcome) => {
      const now = clock.now();
      for (const key of outcome.assignedKeys) {
        const since = view.firstSeenAt(key);
        if (since !== undefined) metrics.observeConvergence((now - since) / 1000);
      }
    },
  });
  const controller = new MicController({
    informers,
    view,
    reconciler,
    targetState,
    readiness: new ReadinessController({ kubeConfig: kube, informers, view, clock, workers: 2 }),
    clock,
    logger,
    debounceMs: config.reconcile.debounceMs,
    workers: config.reconcile.workers,
    driftCheckIntervalMs: config.reconcile.driftCheckIntervalMs,
    resyncIntervalMs: config.reconcile.fullResyncIntervalMs,
    onOutcome: (outcome) => {
      metrics.observeReconcile(outcome.result);
      metrics.observeCycle(outcome.durationMs / 1000);
    },
    onQueueDepth: (depth) => {
      metrics.setQueueDepth(depth);
    },
  });
  const elector = new LeaderElector({
    kubeConfig: leaderLock,
    namespace: config.leaderElection.namespace,
    name: config.leaderElection.name,
    lock: config.leaderElection.lock,
    identity: config.leaderElection.identity,
    leaseDurationMs: config.leaderElection.leaseDurationMs,
    renewDeadlineMs: config.leaderElection.renewDeadlineMs,
    retryPeriodMs: config.leaderElection.retryPeriodMs,
    logger,
    clock,
    onTransition: (leading) => {
      metrics.setLeader(leading);
    },
  });
  metrics.leaderElectionStarted();
  const ready = (): boolean => informers.all.every((informer) => informer.hasSynced);

  const parts = [
    micHealthServer({ address: config.healthServer, health: { isActive: () => controller.isActive(), isReady: ready }, logger }),
    micMetricsServer({ address: config.metricsServer, metrics, logger }),
    // Loaded only with --enableProfile: node:inspector and the profile app stay out of MIC otherwise.
    ...(config.profileServer === undefined ? [] : [(await import('../lib/profile-app.ts')).profileServer({ program: 'mic', port: config.profileServer.port, logger, clock })]),
    ...informers.all.map((informer) => runnable(`informer ${informer.name}`, (partSignal) => informer.run(partSignal))),
    runnable('leader election', (partSignal) => elector.run(partSignal)),
    runnable(
      'reconciler',
      async (partSignal) => {
        if (config.typeUpgrade.enabled) {
          const outcome = await recordTypeUpgrade(kube, {
            namespace: config.typeUpgrade.configMapNamespace,
            name: config.typeUpgrade.configMapName,
            key: config.typeUpgrade.statusKey,
            version: MIC_VERSION,
          }).catch((error: unknown) => `failed: ${describeError(error)}`);
          logger.info({ configMap: `${config.typeUpgrade.configMapNamespace}/${config.typeUpgrade.configMapName}`, outcome }, 'type upgrade status (no object rewrite needed)');
        }
        await controller.run(partSignal);
      },
      true,
    ),
  ];
  if (config.cloudConfigPath !== undefined) {
    const file = config.cloudConfigPath;
    parts.push(
      runnable('cloud config watch', (partSignal) =>
        watchCloudConfig(
          file,
          async (next) => {
            arm.current = await connect(next);
            cloudConfig = next;
            immutable = immutableSet(config, next);
            logger.info({ file }, 'cloud config changed; ARM client reconnected');
          },
          partSignal,
          { current: cloudConfig, onError: (error) => { logger.error({ file, err: describeError(error) }, 'cloud config unusable; keeping the previous one'); } },
        ),
      ),
    );
  }
  logger.info({ version: MIC_VERSION, identity: config.leaderElection.identity, namespaced: config.namespaced, clientQps: config.kubeClient.rate?.qps ?? 'no limit' }, 'MIC starting');
  await runAll(parts, signal, elector);
}

/** MIC as a program: its exit code. */
export async function micMain(): Promise<number> {
  let command;
  try {
    command = parseMicCommand(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`mic: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (command.kind === 'help') {
    process.stdout.write(command.text.length > 0 ? command.text : micHelp());
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`mic ${MIC_VERSION} (node ${process.version})\n`);
    return 0;
  }
  const { config } = command;
  let logger;
  try {
    logger = createLogger({ format: config.log.format, level: config.log.level, component: 'mic', output: config.log.output });
  } catch (error) {
    if (!(error instanceof LogFileError)) throw error;
    process.stderr.write(`mic: ${error.message}\n`);
    return 2;
  }
  const stop = new AbortController();
  for (const name of ['SIGTERM', 'SIGINT'] as const) {
    process.once(name, () => {
      logger.info({ signal: name }, 'shutting down');
      stop.abort();
    });
  }
  try {
    await runMic(config, process.env, stop.signal, logger);
    return 0;
  } catch (error) {
    logger.error({ err: describeError(error) }, 'MIC stopped');
    return error instanceof TerminalError ? 2 : 1;
  }
}

