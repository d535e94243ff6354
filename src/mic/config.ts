/**
 * MIC's configuration, parsed once at the edge: command line (upstream's Go flags, see flags.ts) and
 * the two environment variables MIC reads itself, into one deeply frozen {@link MicConfig}; or a
 * {@link ConfigError} that lists every problem at once. Nothing below `main` reads `process.env`.
 * @module
 */
import { hostname } from 'node:os';
import { deepFreeze, type ConfigNotice, type ListenAddress } from '../lib/config-values.ts';
import { ConfigError, parseFlags, renderFlagHelp, type FlagValues } from '../lib/go-flags.ts';
import { klogNotices, klogOutput, logLevelForVerbosity, type LogOutput } from '../lib/klog-flags.ts';
import type { LogFormat, LogLevel } from '../lib/logger.ts';
import type { ClientRate } from '../kube/request-limiter.ts';
import { MIC_ENVIRONMENT, MIC_FLAG_GROUPS, MIC_FLAGS } from './flags.ts';

export { ConfigError } from '../lib/go-flags.ts';
export type { ConfigNotice, ListenAddress } from '../lib/config-values.ts';

export type LeaderElectionLock = 'leases' | 'endpointsleases';

export interface MicConfig {
  /** Kubeconfig file; undefined for in-cluster configuration. */
  readonly kubeconfig: string | undefined;
  /** azure.json; undefined to read the cloud config from environment variables. */
  readonly cloudConfigPath: string | undefined;
  /** MIC_POD_NAMESPACE: MIC's own namespace. */
  readonly podNamespace: string;
  /** `--forceNamespaced` or FORCENAMESPACED=true. */
  readonly namespaced: boolean;
  readonly kubeClient: {
    /**
     * `--clientQps` as client-go applies it: QPS and burst `int(QPS)`, at least 1 so that a QPS below
     * 1 still lets requests through (client-go's burst 0 would refuse them all). Undefined: not paced.
     */
    readonly rate: ClientRate | undefined;
    /** `--custom-user-agent`, appended to User-Agent headers (Kubernetes and ARM). */
    readonly customUserAgent: string | undefined;
  };
  readonly leaderElection: {
    readonly lock: LeaderElectionLock;
    readonly namespace: string;
    readonly name: string;
    /** This replica's identity: `--leader-election-instance`, else the hostname. */
    readonly identity: string;
    readonly leaseDurationMs: number;
    /** Half the lease duration, as upstream. */
    readonly renewDeadlineMs: number;
    /** A quarter of the lease duration, as upstream. */
    readonly retryPeriodMs: number;
  };
  readonly healthServer: ListenAddress;
  readonly metricsServer: ListenAddress;
  readonly reconcile: {
    readonly workers: number;
    readonly debounceMs: number;
    readonly identityRemovalGracePeriodMs: number;
    /** 0 disables drift checks. */
    readonly driftCheckIntervalMs: number;
    /** `--syncRetryDuration`: periodic full re-plan. */
    readonly fullResyncIntervalMs: number;
    /** `--createDeleteBatch`: AzureAssignedIdentity writes in flight per target. */
    readonly writeConcurrency: number;
    /** `--update-user-msi-max-retry` / `--update-user-msi-retry-interval`: transient ARM failures. */
    readonly armRetry: { readonly maxRetries: number; readonly firstDelayMs: number };
  };
  /** `--immutable-user-msis`, lower-cased (the cloud config's userAssignedIdentityID is added by the caller). */
  readonly immutableClientIds: readonly string[];
  readonly typeUpgrade: {
    readonly enabled: boolean;
    readonly configMapNamespace: string;
    readonly configMapName: string;
    readonly statusKey: string;
  };
  /** `--enableProfile`: the loopback-only profiling listener (lib/profile-app.ts); undefined when off. */
  readonly profileServer: ListenAddress | undefined;
  readonly log: { readonly format: LogFormat; readonly level: LogLevel; readonly output: LogOutput };
  readonly notices: readonly ConfigNotice[];
}

/** What the command line asks for. */
export type MicCommand = { readonly kind: 'run'; readonly config: MicConfig } | { readonly kind: 'help'; readonly text: string } | { readonly kind: 'version' };

/** Facts about the host that defaults depend on; injectable for tests. */
export interface MicConfigHost {
  readonly hostname: () => string;
}

const DEFAULT_HOST: MicConfigHost = { hostname };

export { logLevelForVerbosity };

/** `--help` text, generated from the flag table. */
export function micHelp(program = 'mic'): string {
  const environment = MIC_ENVIRONMENT.map((variable) => `  ${variable.name}\n        ${variable.usage}`).join('\n');
  return [
    `Usage: ${program} [flags]`,
    '',
    'MIC (Managed Identity Controller): assigns the user-assigned identities that pods need to their',
    'VMs and VM scale sets, and records each assignment as an AzureAssignedIdentity.',
    'Flags use Go syntax: -flag or --flag, --flag=value or --flag value; booleans --flag or --flag=false.',
    '',
    renderFlagHelp(MIC_FLAGS, MIC_FLAG_GROUPS),
    '',
    `Environment:\n${environment}`,
    '',
  ].join('\n');
}

function noticesFor(values: FlagValues<typeof MIC_FLAGS>, given: ReadonlySet<string>, env: NodeJS.ProcessEnv): ConfigNotice[] {
  const notices: ConfigNotice[] = [];
  if (given.has('enableScaleFeatures')) notices.push({ setting: '--enableScaleFeatures', message: 'deprecated and has no effect on MIC' });
  if (!values.enableProfile && given.has('profile-port')) notices.push({ setting: '--profile-port', message: 'has no effect without --enableProfile' });
  notices.push(...klogNotices(values, given));
  const forceNamespaced = env.FORCENAMESPACED;
  if (forceNamespaced !== undefined && forceNamespaced !== '' && forceNamespaced !== 'true' && forceNamespaced !== 'false') {
    notices.push({ setting: 'FORCENAMESPACED', message: `${JSON.stringify(forceNamespaced)} is not "true": namespaced mode is off unless --forceNamespaced is given (only the exact string "true" counts, as upstream)` });
  }
  return notices;
}

function crossFieldProblems(values: FlagValues<typeof MIC_FLAGS>, given: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const drift = values['drift-check-interval'];
  const reconcileInterval = values['identity-assignment-reconcile-interval'];
  if (drift !== undefined && given.has('identity-assignment-reconcile-interval') && drift !== reconcileInterval) {
    problems.push(`--drift-check-interval and --identity-assignment-reconcile-interval are the same setting but were given different values; give one of them`);
  }
  const probePort = values['http-probe-port'];
  const healthHost = values['health-bind-address'];
  const metricsHost = values['metrics-bind-address'];
  const addressesOverlap = healthHost === metricsHost || healthHost === '' || metricsHost === '';
  if (probePort !== 0 && probePort === values['prometheus-port'] && addressesOverlap) {
    problems.push(`--http-probe-port and --prometheus-port are both ${probePort} on the same address; the two servers need different ports`);
  }
  return problems;
}

/**
 * Parses MIC's command line (`argv` without the program name) and environment. `--help` wins over
 * everything; `--version` needs no MIC_POD_NAMESPACE. Throws {@link ConfigError} listing every
 * problem (unknown flags, bad values with what was expected, missing environment, conflicts).
 */
export function parseMicCommand(argv: readonly string[], env: NodeJS.ProcessEnv, host: MicConfigHost = DEFAULT_HOST): MicCommand {
  const { values, given, positionals, helpRequested, problems: flagProblems } = parseFlags(MIC_FLAGS, argv);
  if (helpRequested) return { kind: 'help', text: micHelp() };

  const problems = [...flagProblems, ...crossFieldProblems(values, given)];
  if (positionals.length > 0) problems.push(`unexpected arguments ${positionals.map((arg) => JSON.stringify(arg)).join(', ')}: MIC takes flags only`);
  if (problems.length === 0 && values.version) return { kind: 'version' };

  const podNamespace = env.MIC_POD_NAMESPACE ?? '';
  if (podNamespace === '') {
    problems.push('MIC_POD_NAMESPACE is not set: set it to MIC’s namespace (env valueFrom fieldRef metadata.namespace)');
  } else if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(podNamespace) || podNamespace.length > 63) {
    problems.push(`MIC_POD_NAMESPACE: ${JSON.stringify(podNamespace)} is not valid: expected a Kubernetes namespace name (lower-case DNS label)`);
  }
  if (problems.length > 0) throw new ConfigError('mic', problems);

  const leaseDurationMs = values['leader-election-duration'];
  const config: MicConfig = {
    kubeconfig: values.kubeconfig === '' ? undefined : values.kubeconfig,
    cloudConfigPath: values.cloudconfig === '' ? undefined : values.cloudconfig,
    podNamespace,
    namespaced: values.forceNamespaced || env.FORCENAMESPACED === 'true',
    kubeClient: {
      rate: values.clientQps === undefined ? undefined : { qps: values.clientQps, burst: Math.max(1, Math.trunc(values.clientQps)) },
      customUserAgent: values['custom-user-agent'] === '' ? undefined : values['custom-user-agent'],
    },
    leaderElection: {
      lock: values['leader-election-resource-lock'],
      namespace: values['leader-election-namespace'],
      name: values['leader-election-name'],
      identity: values['leader-election-instance'] ?? host.hostname(),
      leaseDurationMs,
      renewDeadlineMs: leaseDurationMs / 2,
      retryPeriodMs: leaseDurationMs / 4,
    },
    healthServer: { host: values['health-bind-address'], port: values['http-probe-port'] },
    metricsServer: { host: values['metrics-bind-address'], port: values['prometheus-port'] },
    reconcile: {
      workers: values.workers,
      debounceMs: values.debounce,
      identityRemovalGracePeriodMs: values['identity-removal-grace-period'],
      driftCheckIntervalMs: values['drift-check-interval'] ?? values['identity-assignment-reconcile-interval'],
      fullResyncIntervalMs: values.syncRetryDuration,
      writeConcurrency: values.createDeleteBatch,
      armRetry: { maxRetries: values['update-user-msi-max-retry'], firstDelayMs: values['update-user-msi-retry-interval'] },
    },
    immutableClientIds: values['immutable-user-msis'].map((id) => id.toLowerCase()),
    typeUpgrade: {
      enabled: values['enable-type-upgrade'],
      configMapNamespace: podNamespace,
      configMapName: values['config-map-name'],
      statusKey: values['type-upgrade-status-key'],
    },
    profileServer: values.enableProfile ? { host: '127.0.0.1', port: values['profile-port'] } : undefined,
    log: { format: values['log-format'], level: logLevelForVerbosity(values.v), output: klogOutput(values, 'mic') },
    notices: noticesFor(values, given, env),
  };
  return { kind: 'run', config: deepFreeze(config) };
}

/**
 * The configuration to run with; throws {@link ConfigError} like {@link parseMicCommand}, and also
 * when the command line asks for `--help` or `--version` (use {@link parseMicCommand} in `main`).
 */
export function parseMicConfig(argv: readonly string[], env: NodeJS.ProcessEnv, host: MicConfigHost = DEFAULT_HOST): MicConfig {
  const command = parseMicCommand(argv, env, host);
  if (command.kind !== 'run') throw new ConfigError('mic', [`--${command.kind} asks for output, not a configuration`]);
  return command.config;
}
