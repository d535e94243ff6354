/**
 * NMI's configuration, parsed once at the edge: command line (flags.ts) and the environment variables
 * NMI reads itself, into one deeply frozen {@link NmiConfig}, or a {@link ConfigError} listing every
 * problem at once. Nothing below `main` reads `process.env`.
 * @module
 */
import { deepFreeze, type ConfigNotice, type ListenAddress } from '../lib/config-values.ts';
import { ConfigError, parseFlags, renderFlagHelp, type FlagValues } from '../lib/go-flags.ts';
import { klogNotices, klogOutput, logLevelForVerbosity, type LogOutput } from '../lib/klog-flags.ts';
import type { LogFormat, LogLevel } from '../lib/logger.ts';
import { NMI_ENVIRONMENT, NMI_FLAG_GROUPS, NMI_FLAGS } from './flags.ts';

export { ConfigError } from '../lib/go-flags.ts';
export type { ConfigNotice, ListenAddress } from '../lib/config-values.ts';

export type OperationMode = 'standard' | 'managed';
export type MetricsOperationType = 'route' | 'path';

export interface NmiConfig {
  readonly kubeconfig: string | undefined;
  readonly nodeName: string;
  readonly mode: OperationMode;
  readonly namespaced: boolean;
  /** Where pod traffic lands (the token listener). */
  readonly tokenListener: ListenAddress;
  /** 127.0.0.1:port serving /host/token; undefined when off. */
  readonly hostTokenListener: ListenAddress | undefined;
  readonly healthServer: ListenAddress;
  readonly metricsServer: ListenAddress;
  /** `--handover-timeout-sec` in ms: how long a stopping NMI waits for its successor; 0 = off. */
  readonly handoverTimeoutMs: number;
  /** A second port where a ready /readyz counts as the successor (0: none). */
  readonly handoverProbePort: number;
  /** Set net.ipv4.tcp_migrate_req=1 for the handover (node/tcp-migrate-req.ts). */
  readonly handoverTcpMigrateReq: boolean;
  readonly metadata: { readonly ip: string; readonly port: number };
  readonly iptables: {
    /** `--ipt-chain`: the nat chain of the redirect (`aad-metadata` like upstream). */
    readonly chain: string;
    /** DNAT target of pod traffic for the metadata address. */
    readonly dnatIp: string;
    readonly dnatPort: number;
    readonly intervalMs: number;
    /** `--manage-iptables`: false = no rules installed or checked. */
    readonly manage: boolean;
    readonly flushConntrack: boolean;
    /** `--ipt-guard`: the filter-table guard beside the redirect. */
    readonly guard: boolean;
    readonly cleanupOnExit: boolean;
    /** NMI's own DaemonSet (NMI_DAEMONSET_NAME, POD_NAMESPACE): its deletion means uninstall. */
    readonly daemonSet: { readonly namespace: string; readonly name: string } | undefined;
    /** `--not-ready-taint`: removed from this node once the rules are in; undefined = off. */
    readonly notReadyTaint: string | undefined;
  };
  readonly micNamespace: string;
  readonly standardMode: {
    readonly retryAttemptsForCreated: number;
    readonly retryAttemptsForAssigned: number;
    readonly retryIntervalMs: number;
  };
  /** Only AAIs labelled nodename=<node> (upstream --enableScaleFeatures). */
  readonly watchNodeAssignmentsOnly: boolean;
  readonly blockInstanceMetadata: boolean;
  readonly metadataHeaderRequired: boolean;
  /** Seconds for `Retry-After` when the identity is not available; undefined = 404 as upstream. */
  readonly retryAfterSeconds: number | undefined;
  readonly kubenet: { readonly allowed: boolean; readonly kubeletConfigPath: string };
  readonly tokens: {
    readonly cacheSize: number;
    readonly perPod: { readonly ratePerSec: number; readonly burst: number };
    readonly imds: { readonly maxConcurrent: number; readonly maxPerSecond: number };
    readonly cloud: string;
    readonly authorityHost: string | undefined;
    /** `--federated-token-file`: NMI's projected service-account token, the assertion for type-3 identities. */
    readonly federatedTokenFile: string;
  };
  readonly customUserAgent: string | undefined;
  /** `--metrics-operation-type`: `operation_type` of NMI operations is the route (bounded) or upstream's URL path. */
  readonly metricsOperationType: MetricsOperationType;
  /** `--enableProfile`: the loopback-only profiling listener (lib/profile-app.ts); undefined when off. */
  readonly profileServer: ListenAddress | undefined;
  readonly log: { readonly format: LogFormat; readonly level: LogLevel; readonly output: LogOutput };
  readonly notices: readonly ConfigNotice[];
}

export type NmiCommand = { readonly kind: 'run'; readonly config: NmiConfig } | { readonly kind: 'help'; readonly text: string } | { readonly kind: 'version' };

/** upstream's `Retry-After` with `--set-retry-after-header`. */
export const RETRY_AFTER_SECONDS = 20;

export function nmiHelp(program = 'nmi'): string {
  const environment = NMI_ENVIRONMENT.map((variable) => `  ${variable.name}\n        ${variable.usage}`).join('\n');
  return [
    `Usage: ${program} [flags]`,
    '',
    'NMI (Node Managed Identity): intercepts pod traffic to the instance metadata service on this node',
    'and answers token requests with the calling pod’s identity.',
    'Flags use Go syntax: -flag or --flag, --flag=value or --flag value; booleans --flag or --flag=false.',
    '',
    renderFlagHelp(NMI_FLAGS, NMI_FLAG_GROUPS),
    '',
    `Environment:\n${environment}`,
    '',
  ].join('\n');
}

type Values = FlagValues<typeof NMI_FLAGS>;

function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::';
}

/**
 * The DNAT target and the token listener. Pod traffic is DNATed to the node IP by default (not
 * 127.0.0.1: that needs route_localnet=1 and lets anything on the node's networks reach loopback
 * services), and NMI listens exactly there.
 */
function addresses(values: Values, given: ReadonlySet<string>, env: NodeJS.ProcessEnv, problems: string[], notices: ConfigNotice[]): { dnatIp: string; listenHost: string } {
  const listen = values['nmi-listen-address'];
  const nodeIp = env.NODE_IP ?? '';
  let dnatIp = values['ipt-dnat-address'];
  if (dnatIp === '' && nodeIp !== '') dnatIp = nodeIp;
  if (dnatIp === '' && given.has('nmi-listen-address') && !isWildcard(listen)) dnatIp = listen;
  if (dnatIp === '') {
    problems.push('no DNAT address: set NODE_IP (env valueFrom fieldRef status.hostIP) or --ipt-dnat-address');
    return { dnatIp, listenHost: listen };
  }
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(dnatIp)) problems.push(`DNAT address ${JSON.stringify(dnatIp)} is not an IPv4 address (the rule is IPv4 only)`);
  if (dnatIp.startsWith('127.')) notices.push({ setting: '--ipt-dnat-address', message: `DNAT to ${dnatIp} reaches NMI only when the node has net.ipv4.conf.all.route_localnet=1` });
  const listenHost = given.has('nmi-listen-address') ? listen : dnatIp;
  if (!isWildcard(listenHost) && listenHost !== dnatIp) {
    problems.push(`--nmi-listen-address ${listenHost} is not the DNAT address ${dnatIp}: intercepted pod traffic would not reach NMI (listen on ${dnatIp} or 0.0.0.0)`);
  }
  return { dnatIp, listenHost };
}

function noticesFor(values: Values, given: ReadonlySet<string>, env: NodeJS.ProcessEnv): ConfigNotice[] {
  const notices: ConfigNotice[] = [...klogNotices(values, given)];
  if (!values.enableProfile && given.has('profile-port')) notices.push({ setting: '--profile-port', message: 'has no effect without --enableProfile' });
  const forceNamespaced = env.FORCENAMESPACED;
  if (forceNamespaced !== undefined && forceNamespaced !== '' && forceNamespaced !== 'true' && forceNamespaced !== 'false') {
    notices.push({ setting: 'FORCENAMESPACED', message: `${JSON.stringify(forceNamespaced)} is not "true": namespaced mode is off unless --forceNamespaced is given` });
  }
  return notices;
}

/**
 * Parses NMI's command line (`argv` without the program name) and environment. Throws
 * {@link ConfigError} listing every problem.
 */
export function parseNmiCommand(argv: readonly string[], env: NodeJS.ProcessEnv): NmiCommand {
  // Upstream lower-cased --operation-mode before checking it.
  const normalised = argv.map((arg, index) =>
    /^--?operation-mode$/u.test(argv[index - 1] ?? '')
      ? arg.toLowerCase()
      : arg.replace(/^(--?operation-mode=)(.*)$/u, (_all, flag: string, value: string) => `${flag}${value.toLowerCase()}`),
  );
  const { values, given, positionals, helpRequested, problems: flagProblems } = parseFlags(NMI_FLAGS, normalised);
  if (helpRequested) return { kind: 'help', text: nmiHelp() };
  const problems = [...flagProblems];
  if (positionals.length > 0) problems.push(`unexpected arguments ${positionals.map((arg) => JSON.stringify(arg)).join(', ')}: NMI takes flags only`);
  if (problems.length === 0 && values.version) return { kind: 'version' };

  const notices = noticesFor(values, given, env);
  const nodeName = values.node !== '' ? values.node : (env.NODE_NAME ?? '');
  if (nodeName === '') problems.push('no node name: pass --node=$(NODE_NAME) (env valueFrom fieldRef spec.nodeName)');
  const namespaced = values.forceNamespaced || env.FORCENAMESPACED === 'true';
  const mode = values['operation-mode'];
  if (mode === 'managed' && !namespaced) problems.push('managed mode requires namespaced mode: add --forceNamespaced or FORCENAMESPACED=true');
  if (values['handover-timeout-sec'] > 0 && values['cleanup-iptables-on-exit']) problems.push('--handover-timeout-sec and --cleanup-iptables-on-exit contradict each other: a stopping NMI would remove the rules its successor just installed (use one of them)');
  const { dnatIp, listenHost } = addresses(values, given, env, problems, notices);
  const port = values['nmi-port'];
  const hostTokenPort = values['host-token-port'];
  if (problems.length > 0) throw new ConfigError('nmi', problems);

  const kubeconfig = values.kubeconfig !== '' ? values.kubeconfig : env.KUBECONFIG;
  const config: NmiConfig = {
    kubeconfig: kubeconfig === '' ? undefined : kubeconfig,
    nodeName,
    mode,
    namespaced,
    tokenListener: { host: listenHost === '' ? '0.0.0.0' : listenHost, port },
    // Sharing 127.0.0.1:port with the token listener is fine: one listener serves both.
    hostTokenListener: hostTokenPort === 0 ? undefined : { host: '127.0.0.1', port: hostTokenPort },
    healthServer: { host: values['health-bind-address'], port: values['http-probe-port'] },
    metricsServer: { host: values['metrics-bind-address'], port: values['prometheus-port'] },
    handoverTimeoutMs: values['handover-timeout-sec'] * 1000,
    handoverProbePort: values['handover-probe-port'],
    handoverTcpMigrateReq: values['handover-tcp-migrate-req'],
    metadata: { ip: values['metadata-ip'], port: values['metadata-port'] },
    iptables: {
      chain: values['ipt-chain'],
      dnatIp,
      dnatPort: port,
      intervalMs: values['ipt-update-interval-sec'] * 1000,
      manage: values['manage-iptables'],
      flushConntrack: values['enable-conntrack-deletion'],
      guard: values['ipt-guard'],
      cleanupOnExit: values['cleanup-iptables-on-exit'],
      daemonSet:
        (env.NMI_DAEMONSET_NAME ?? '') !== '' && (env.POD_NAMESPACE ?? '') !== '' ? { namespace: env.POD_NAMESPACE ?? '', name: env.NMI_DAEMONSET_NAME ?? '' } : undefined,
      notReadyTaint: values['not-ready-taint'] === '' ? undefined : values['not-ready-taint'],
    },
    micNamespace: values.MICNamespace,
    standardMode: {
      retryAttemptsForCreated: values['retry-attempts-for-created'],
      retryAttemptsForAssigned: values['retry-attempts-for-assigned'],
      retryIntervalMs: values['find-identity-retry-interval'] * 1000,
    },
    watchNodeAssignmentsOnly: values.enableScaleFeatures,
    blockInstanceMetadata: values['block-instance-metadata'],
    metadataHeaderRequired: values['metadata-header-required'],
    retryAfterSeconds: values['set-retry-after-header'] ? RETRY_AFTER_SECONDS : undefined,
    kubenet: { allowed: values['allow-network-plugin-kubenet'], kubeletConfigPath: values['kubelet-config'] },
    tokens: {
      cacheSize: values['token-cache-size'],
      perPod: { ratePerSec: values['per-pod-requests-per-second'], burst: values['per-pod-burst'] },
      imds: { maxConcurrent: values['imds-max-concurrent'], maxPerSecond: values['imds-max-per-second'] },
      cloud: values.cloud,
      authorityHost: values['authority-host'] === '' ? undefined : values['authority-host'],
      federatedTokenFile: values['federated-token-file'],
    },
    customUserAgent: values['custom-user-agent'] === '' ? undefined : values['custom-user-agent'],
    metricsOperationType: values['metrics-operation-type'],
    profileServer: values.enableProfile ? { host: '127.0.0.1', port: values['profile-port'] } : undefined,
    log: { format: values['log-format'], level: logLevelForVerbosity(values.v), output: klogOutput(values, 'nmi') },
    notices,
  };
  return { kind: 'run', config: deepFreeze(config) };
}

/** The configuration to run with (throws for `--help`/`--version`, which ask for output). */
export function parseNmiConfig(argv: readonly string[], env: NodeJS.ProcessEnv): NmiConfig {
  const command = parseNmiCommand(argv, env);
  if (command.kind !== 'run') throw new ConfigError('nmi', [`--${command.kind} asks for output, not a configuration`]);
  return command.config;
}
