/**
 * NMI in rootless integration tests: NMI runs as a real process (src/nmi/main.ts) for one node of a
 * {@link MicWorld}, with `--manage-iptables=false` (no iptables outside network namespaces), its token
 * listener on 127.0.0.1, and the node's IMDS from the simulator. Pods are given addresses in
 * 127.0.0.0/8 and clients bind their local address to them, so NMI sees that source address.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { freePorts } from '../../src/devenv/ports.ts';
import type { MicWorld } from './mic-world.ts';
import { nmiNodeArgs } from './component-command.ts';

export interface NmiProcess {
  readonly node: string;
  readonly port: number;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly imdsUrl: string;
  output(): string;
  /** Parsed JSON log records with an `audit` field. */
  audits(): Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface NmiResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json(): Record<string, unknown>;
}

/** Starts NMI for `node`; resolves once /healthz says Active (caches synced, serving). */
export async function startNmi(world: MicWorld, node: string, args: readonly string[] = [], env: Record<string, string> = {}): Promise<NmiProcess> {
  const imds = await world.sim.startImds(node);
  const imdsUrl = new URL(imds.url);
  const [port, healthPort, metricsPort] = (await freePorts(3)) as [number, number, number];
  const caFile = path.join(world.dir, 'sim-ca.pem');
  writeFileSync(caFile, world.sim.caPem);
  const child = spawn(
    process.execPath,
    [
      ...nmiNodeArgs(),
      `--kubeconfig=${world.plane.kubeconfigPath}`,
      `--node=${node}`,
      '--manage-iptables=false',
      '--nmi-listen-address=127.0.0.1',
      `--nmi-port=${String(port)}`,
      `--host-token-port=${String(port)}`,
      `--metadata-ip=${imdsUrl.hostname}`,
      `--metadata-port=${imdsUrl.port}`,
      `--http-probe-port=${String(healthPort)}`,
      `--prometheus-port=${String(metricsPort)}`,
      '--health-bind-address=127.0.0.1',
      '--metrics-bind-address=127.0.0.1',
      '--kubelet-config=/nonexistent/kubelet',
      '--log-format=json',
      ...args,
    ],
    { env: { PATH: process.env['PATH'] ?? '', NODE_EXTRA_CA_CERTS: caFile, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
  const nmi: NmiProcess = {
    node,
    port,
    healthPort,
    metricsPort,
    imdsUrl: imds.url,
    output: () => output,
    audits: () =>
      output
        .split('\n')
        .filter((line) => line.includes('"audit"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await imds.close();
      return child.exitCode;
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`NMI exited ${String(child.exitCode)}:\n${output}`);
    const health = await fetch(`http://127.0.0.1:${String(healthPort)}/readyz`).then((response) => response.status, () => 0);
    if (health === 200) {
      // Ready = caches synced; the token listener starts right after.
      const listening = await nmiRequest(nmi, { from: '127.0.0.1', path: '/healthz-probe' }).then(() => true, () => false);
      if (listening) return nmi;
    }
    if (Date.now() > deadline) {
      await nmi.stop('SIGKILL');
      throw new Error(`NMI not ready within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface NmiRequestOptions {
  /** Source address: a pod's 127.x address, or 127.0.0.1 for the host. */
  readonly from: string;
  readonly path: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
}

/** One HTTP request to NMI's token listener from a chosen source address (raw path: no normalisation). */
export function nmiRequest(nmi: Pick<NmiProcess, 'port'>, options: NmiRequestOptions): Promise<NmiResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: nmi.port, localAddress: options.from, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {}, agent: false, timeout: 120_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('NMI request timed out')));
    req.end();
  });
}

/** GET of the token path with `Metadata: true`, the way SDKs ask. */
export function tokenRequest(nmi: Pick<NmiProcess, 'port'>, from: string, query: Record<string, string>, headers: Record<string, string> = { Metadata: 'true' }): Promise<NmiResponse> {
  const search = new URLSearchParams({ 'api-version': '2018-02-01', ...query });
  return nmiRequest(nmi, { from, path: `/metadata/identity/oauth2/token?${search.toString()}`, headers });
}
