/**
 * Our MIC and NMI started from what `helm install` put into the API server: the first container of the
 * chart's Deployment / DaemonSet read back, its `valueFrom.fieldRef` environment resolved as the kubelet
 * would, `$(VAR)` references in the arguments expanded, and only what a machine without a kubelet
 * cannot give the process replaced (the kubeconfig of the chart's ServiceAccount instead of the
 * in-cluster one, file paths, the ports of MIC on the shared loopback). So a test runs exactly the
 * flags the chart renders — e.g. its migration mode.
 * @module
 */
import { spawn } from 'node:child_process';
import type { NetnsTopology } from '../../src/devenv/netns.ts';
import { freePorts } from '../../src/devenv/ports.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { kubectlJson, type Plane } from './chart.ts';
import { micProcess, type MicProcess } from './mic-world.ts';
import { componentEntry, componentNodeFlags, nmiNodeArgs } from './component-command.ts';

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly fieldRef?: { readonly fieldPath: string } };
}

export interface ChartContainer {
  readonly args: readonly string[];
  readonly env: readonly EnvVar[];
}

/** The first container of `kind/name` in `namespace` as the API server stores it. */
export async function workloadContainer(plane: Plane, kind: 'deployment' | 'daemonset', namespace: string, name: string): Promise<ChartContainer> {
  const object = await kubectlJson<{ spec: { template: { spec: { containers: { args?: string[]; env?: EnvVar[] }[] } } } }>(plane, ['get', kind, name, '-n', namespace]);
  const container = object.spec.template.spec.containers[0];
  if (container === undefined) throw new Error(`${kind} ${namespace}/${name} has no container`);
  return { args: container.args ?? [], env: container.env ?? [] };
}

/** The environment as the kubelet gives it: plain values, and fieldRefs from `fields` (fieldPath → value). */
export function resolveEnv(env: readonly EnvVar[], fields: Readonly<Record<string, string>>): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const entry of env) {
    const fieldPath = entry.valueFrom?.fieldRef?.fieldPath;
    if (fieldPath !== undefined) {
      const value = fields[fieldPath];
      if (value === undefined) throw new Error(`env ${entry.name}: no value for fieldRef ${fieldPath}`);
      resolved[entry.name] = value;
    } else if (entry.valueFrom !== undefined) {
      throw new Error(`env ${entry.name}: only fieldRef is supported here`);
    } else {
      resolved[entry.name] = entry.value ?? '';
    }
  }
  return resolved;
}

/** Kubernetes' `$(VAR)` expansion of container arguments (unknown references stay as written). */
export function expandArgs(args: readonly string[], env: Readonly<Record<string, string>>): string[] {
  return args.map((arg) => arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole));
}

/** `--name=value` in place of any `--name…` already there (one occurrence), else appended. */
export function withFlag(args: readonly string[], name: string, value: string): string[] {
  const matches = (arg: string): boolean => arg === `--${name}` || arg.startsWith(`--${name}=`);
  const replaced = args.filter((arg) => !matches(arg));
  const index = args.findIndex(matches);
  const flag = `--${name}=${value}`;
  if (index === -1) return [...replaced, flag];
  replaced.splice(index, 0, flag);
  return replaced;
}

/** The value of `--name=value` in `args`, if present. */
export function flagIn(args: readonly string[], name: string): string | undefined {
  return args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
}

export interface ChartMicOptions {
  /** Leader-election instance (the pod name on a cluster) and the process's name. */
  readonly name: string;
  /** The release's namespace (MIC_POD_NAMESPACE from the downward API). */
  readonly namespace: string;
  /** A kubeconfig of the chart's MIC ServiceAccount. */
  readonly kubeconfig: string;
  /** The azure.json the chart's `--cloudconfig` would name on a node. */
  readonly cloudConfig: string;
}

/** Our MIC (src/mic/main.ts on this Node) with the chart's arguments and environment; ports on free loopback ports. */
export async function startChartMic(container: ChartContainer, options: ChartMicOptions): Promise<MicProcess> {
  const [healthPort, metricsPort] = (await freePorts(2)) as [number, number];
  const env = resolveEnv(container.env, { 'metadata.namespace': options.namespace, 'metadata.name': options.name, 'spec.nodeName': 'control-plane' });
  let args = expandArgs(container.args, env);
  args = withFlag(args, 'cloudconfig', options.cloudConfig);
  args = withFlag(args, 'http-probe-port', String(healthPort));
  args = withFlag(args, 'prometheus-port', String(metricsPort));
  args = [...args, `--kubeconfig=${options.kubeconfig}`, `--leader-election-instance=${options.name}`, '--health-bind-address=127.0.0.1', '--metrics-bind-address=127.0.0.1'];
  const child = spawn(process.execPath, [...componentNodeFlags('mic'), componentEntry('mic'), ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return micProcess(child, options.name, healthPort, metricsPort);
}

export interface ChartNmiOptions {
  readonly name: string;
  readonly node: string;
  /** The node's address (status.hostIP): the DNAT target and token listener. */
  readonly nodeIp: string;
  readonly namespace: string;
  readonly kubeconfig: string;
  /** A file for `--kubelet-config` (the chart mounts the node's /etc/default/kubelet). */
  readonly kubeletConfig: string;
  /** The simulator's CA (NODE_EXTRA_CA_CERTS), for service-principal identities. */
  readonly caFile: string;
}

/** The NMI command line and environment the chart's DaemonSet gives a pod on `options.node`. */
export function chartNmiCommand(container: ChartContainer, options: ChartNmiOptions): { args: string[]; env: Record<string, string> } {
  const env = resolveEnv(container.env, { 'metadata.namespace': options.namespace, 'metadata.name': options.name, 'spec.nodeName': options.node, 'status.hostIP': options.nodeIp });
  let args = expandArgs(container.args, env);
  args = withFlag(args, 'kubelet-config', options.kubeletConfig);
  return { args: [...args, `--kubeconfig=${options.kubeconfig}`], env };
}

/** Our NMI in the node namespace with the chart's arguments and environment (hostNetwork: its ports are the node's). */
export function startChartNmi(topo: NetnsTopology, container: ChartContainer, options: ChartNmiOptions): Promise<ManagedProcess> {
  const { args, env } = chartNmiCommand(container, options);
  const variables = Object.entries({ PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', NODE_EXTRA_CA_CERTS: options.caFile, ...env }).map(([name, value]) => `${name}=${value}`);
  return topo.start(topo.node, options.name, 'env', ['-i', ...variables, process.execPath, ...nmiNodeArgs(), ...args]);
}
