/**
 * The archived project's own NMI (aad-pod-identity, the tag of scripts/upstream-aad-pod-identity-tag) as
 * a real process inside a node network namespace of the e2e harness (src/devenv/netns.ts), with the
 * flags its chart passes: it owns the nat chain `aad-metadata` there (jump inserted first in PREROUTING
 * when absent, re-checked every `--ipt-update-interval-sec`), DNATs pods' IMDS traffic to its listen
 * address, and deletes chain and jump on SIGTERM, then sleeps 10 s and exits.
 *
 * By default it listens where upstream's chart leaves it, 127.0.0.1:2579; a DNAT to 127.0.0.1 needs
 * `route_localnet=1` on the node (kube-proxy sets it on every AKS node), so this sets it in the test's
 * node namespace — never anywhere else.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { UpstreamBinaries } from '../../src/devenv/upstream-binaries.ts';
import type { NetnsTopology } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';

export const UPSTREAM_NMI_CHAIN = 'aad-metadata';
/** Upstream chart's defaults: token listener, probe and metrics ports. */
export const UPSTREAM_NMI_PORT = 2579;
export const UPSTREAM_NMI_PROBE_PORT = 8085;
export const UPSTREAM_NMI_METRICS_PORT = 9090;
/** After SIGTERM upstream deletes its rules, then sleeps 10 s before it exits. */
export const UPSTREAM_NMI_EXIT_MS = 10_000;

export interface UpstreamNmiOptions {
  readonly node: string;
  /** A kubeconfig whose server the node namespace reaches (e.g. an exposed 127.0.0.1:port). */
  readonly kubeconfig: string;
  /** `--nmi-listen-address`, also its DNAT target; default 127.0.0.1 (upstream's default). */
  readonly listenAddress?: string;
  readonly extraArgs?: readonly string[];
}

export interface UpstreamNmi {
  readonly process: ManagedProcess;
  readonly listenAddress: string;
  /** `/healthz` on its probe port: `Active` once its rules are set, '' when it does not answer. */
  health(): Promise<string>;
  /** Polls until `/healthz` says Active (bounded); fails early when the process exits. */
  waitActive(timeoutMs?: number): Promise<number>;
  /** SIGTERM (its rule clean-up), then waits for its exit (10 s later); SIGKILL past `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** A kubelet defaults file that upstream's kubenet check reads and accepts (no `--network-plugin=kubenet`). */
async function writeKubeletDefaults(dir: string): Promise<string> {
  const file = path.join(dir, 'upstream-nmi-kubelet-defaults');
  await writeFile(file, 'KUBELET_FLAGS=--network-plugin=cni\n');
  return file;
}

/**
 * The command line upstream's v1.8.17 chart gives NMI (node, probe port 8085, scale features, header
 * required, kubelet config; token listener and metrics on their defaults), plus the test's.
 */
export function upstreamNmiArgs(options: UpstreamNmiOptions & { readonly kubeletConfig: string }): string[] {
  const listen = options.listenAddress ?? '127.0.0.1';
  return [
    `--node=${options.node}`,
    `--http-probe-port=${String(UPSTREAM_NMI_PROBE_PORT)}`,
    '--enableScaleFeatures=true',
    '--metadata-header-required=true',
    `--kubelet-config=${options.kubeletConfig}`,
    ...(listen === '127.0.0.1' ? [] : [`--nmi-listen-address=${listen}`]),
    ...(options.extraArgs ?? []),
  ];
}

/** Starts upstream's NMI in `topo.node` (clean environment: PATH and KUBECONFIG only). */
export async function startUpstreamNmi(topo: NetnsTopology, binaries: UpstreamBinaries, options: UpstreamNmiOptions): Promise<UpstreamNmi> {
  const listenAddress = options.listenAddress ?? '127.0.0.1';
  if (listenAddress.startsWith('127.')) {
    await topo.execOk(topo.node, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet'], { timeoutMs: 10_000 });
  }
  const kubeletConfig = await writeKubeletDefaults(topo.dir);
  const args = upstreamNmiArgs({ ...options, listenAddress, kubeletConfig });
  const proc = await topo.start(topo.node, 'upstream-nmi', 'env', ['-i', `PATH=${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, `KUBECONFIG=${options.kubeconfig}`, binaries.nmi, ...args]);

  const health = async (): Promise<string> => {
    const result = await topo.exec(topo.node, 'curl', ['-s', '--noproxy', '*', '--max-time', '2', `http://127.0.0.1:${String(UPSTREAM_NMI_PROBE_PORT)}/healthz`], { timeoutMs: 10_000 });
    return result.code === 0 ? result.stdout : '';
  };
  return {
    process: proc,
    listenAddress,
    health,
    async waitActive(timeoutMs = 30_000) {
      const started = performance.now();
      for (let attempt = 0; attempt < 1_000; attempt++) {
        if (proc.exit() !== undefined) throw new Error(`upstream NMI exited ${JSON.stringify(proc.exit())}:\n${await proc.tail()}`);
        if ((await health()) === 'Active') return Math.round(performance.now() - started);
        if (performance.now() - started > timeoutMs) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`upstream NMI not Active within ${String(timeoutMs)} ms:\n${await proc.tail()}`);
    },
    stop: (graceMs = UPSTREAM_NMI_EXIT_MS + 5_000) => proc.stop(graceMs),
  };
}
