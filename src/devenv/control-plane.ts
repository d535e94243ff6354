import { mkdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { aggregateClusterRoles } from './aggregate.ts';
import { AUDIT_POLICY_YAML } from './audit.ts';
import { binariesIn, locateBinaries, type Binaries } from './binaries.ts';
import { createCa, createServiceAccountKeys, issueClientCert, issueServingCert } from './certs.ts';
import type { ControlPlaneInfo } from './description.ts';
import type { RunResult } from './exec.ts';
import { httpsGet, type TlsClient } from './https.ts';
import { createClientCertUser, serviceAccountKubeconfig } from './identities.ts';
import { allowAnonymousIssuerDiscovery, jwksUriOf } from './issuer-discovery.ts';
import { runKubectl, type KubectlOptions } from './kubectl.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { freePorts } from './ports.ts';
import { startProcess, type ManagedProcess } from './process.ts';
import { cleanupStale, newPlaneName, planeRoots, track } from './stale.ts';

export interface ControlPlane extends ControlPlaneInfo {
  kubectl(args: string[], options?: KubectlOptions): Promise<RunResult>;
  createClientCertUser(name: string, groups: string[]): Promise<string>;
  serviceAccountKubeconfig(namespace: string, serviceAccount: string, expirationSeconds?: number): Promise<string>;
  /** Stops kube-apiserver and starts it again on the same port against the same etcd. */
  restartApiServer(): Promise<void>;
  /** Kills the processes and removes all dirs; idempotent. */
  stop(): Promise<void>;
  /** The serialisable part, for vitest's provide(). */
  info(): ControlPlaneInfo;
}

export interface StartControlPlaneOptions {
  /** Use the binaries in this dir instead of locating them (test processes get it from global setup). */
  readonly binDir?: string;
  /** Default 90 s, or KUBEBUILDER_CONTROLPLANE_START_TIMEOUT ("120s", "2m", "90000ms" or plain seconds). */
  readonly startTimeoutMs?: number;
  /** Extra kube-apiserver flags, e.g. `--etcd-compaction-interval=2s` to make old watches expire (410). */
  readonly extraApiServerArgs?: readonly string[];
  /**
   * Kill etcd and kube-apiserver on SIGINT/SIGTERM/SIGHUP of this process (default true). False when the
   * caller handles the signals and calls stop() itself; the exit handler stays as the last resort.
   */
  readonly killOnSignal?: boolean;
  /**
   * Serve real nodes (src/devenv/node): the `kubernetes` Service's endpoint is `advertiseAddress`
   * (a forwarder in the cluster network namespace listens there on the API server's port and relays to
   * its loopback listener), the serving certificate names it and the Service IP, the Node authorizer and
   * the ServiceAccount admission plugin are on (a controller manager runs), and the API server reaches
   * kubelets by their InternalIP.
   */
  readonly nodes?: {
    readonly advertiseAddress: string;
    /**
     * A unix socket where an HTTP CONNECT proxy inside the cluster network will listen: the API server
     * reaches kubelets (logs, exec, port-forward) through it (egress selector `cluster`), so it never
     * dials a node address from the root namespace.
     */
    readonly egressSocket: string;
  };
}

/** First address of `--service-cluster-ip-range`: the `kubernetes` Service. */
export const SERVICE_CIDR = '10.0.0.0/24';
export const KUBERNETES_SERVICE_IP = '10.0.0.1';

const STOP_GRACE_MS = 10_000;

function startTimeoutFromEnv(): number {
  const raw = process.env['KUBEBUILDER_CONTROLPLANE_START_TIMEOUT'];
  if (raw === undefined || raw === '') return 90_000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (m === null) throw new Error(`KUBEBUILDER_CONTROLPLANE_START_TIMEOUT=${raw}: expected e.g. 90s, 2m, 90000ms`);
  const unit = m[2] ?? 's';
  return Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000);
}

class StartupError extends Error {
  readonly portClash: boolean;
  constructor(message: string, portClash: boolean) {
    super(message);
    this.portClash = portClash;
  }
}

/** Polls `ready` until it holds; fails fast with the log tail when a watched process exits. */
async function waitFor(
  what: string,
  deadline: number,
  procs: readonly ManagedProcess[],
  ready: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    for (const p of procs) {
      const exit = p.exit();
      if (exit !== undefined) {
        const tail = await p.tail();
        throw new StartupError(
          `${p.name} exited (code ${exit.code}, signal ${exit.signal}) while waiting for ${what}. Last lines of ${p.name}.log:\n${tail}`,
          /address already in use/.test(tail),
        );
      }
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) {
      const tails = await Promise.all(procs.map(async (p) => `--- ${p.name}.log\n${await p.tail()}`));
      throw new StartupError(`timed out waiting for ${what}.\n${tails.join('\n')}`, false);
    }
    await sleep(100);
  }
}

/** Links the binaries into one dir so `binDir` works even when TEST_ASSET_* point to different places. */
async function linkBinDir(bins: Binaries, dir: string): Promise<string> {
  const binDir = path.join(dir, 'bin');
  await mkdir(binDir);
  const files: Record<keyof Binaries, string> = { kubeApiserver: 'kube-apiserver', etcd: 'etcd', kubectl: 'kubectl', helm: 'helm' };
  for (const [k, file] of Object.entries(files) as [keyof Binaries, string][]) {
    await symlink(await realpath(bins[k]), path.join(binDir, file));
  }
  return binDir;
}

interface Pki {
  readonly caPem: string;
  readonly admin: Required<TlsClient>;
  readonly args: readonly string[];
}

async function makePki(dir: string, nodes: StartControlPlaneOptions['nodes']): Promise<Pki> {
  const ca = await createCa(dir);
  const servingNames =
    nodes === undefined
      ? {}
      : {
          ips: [nodes.advertiseAddress, KUBERNETES_SERVICE_IP],
          dnsNames: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
        };
  const [serving, admin, sa, kubeletClient] = await Promise.all([
    issueServingCert(ca, dir, servingNames),
    issueClientCert(ca, path.join(dir, 'admin'), 'admin', ['system:masters']),
    createServiceAccountKeys(dir),
    nodes === undefined ? undefined : issueClientCert(ca, path.join(dir, 'kubelet-client'), 'kube-apiserver-kubelet-client', ['system:masters']),
  ]);
  const egressConfig = path.join(dir, 'egress-selector.yaml');
  if (nodes !== undefined) {
    await writeFile(
      egressConfig,
      [
        'apiVersion: apiserver.k8s.io/v1beta1',
        'kind: EgressSelectorConfiguration',
        'egressSelections:',
        '  - name: cluster',
        '    connection:',
        '      proxyProtocol: HTTPConnect',
        '      transport:',
        '        uds:',
        `          udsName: ${nodes.egressSocket}`,
        '',
      ].join('\n'),
    );
  }
  const read = (f: string): Promise<string> => readFile(f, 'utf8');
  const [caPem, certPem, keyPem] = await Promise.all([read(ca.certPath), read(admin.certPath), read(admin.keyPath)]);
  return {
    caPem,
    admin: { caPem, certPem, keyPem },
    args: [
      `--tls-cert-file=${serving.certPath}`,
      `--tls-private-key-file=${serving.keyPath}`,
      `--cert-dir=${dir}`,
      `--client-ca-file=${ca.certPath}`,
      `--service-account-key-file=${sa.publicPath}`,
      `--service-account-signing-key-file=${sa.privatePath}`,
      ...(kubeletClient === undefined
        ? []
        : [
            `--kubelet-client-certificate=${kubeletClient.certPath}`,
            `--kubelet-client-key=${kubeletClient.keyPath}`,
            `--egress-selector-config-file=${egressConfig}`,
          ]),
    ],
  };
}

function etcdArgs(dataDir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=test',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=test=${peer}`,
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

/** The service-account issuer of a plane whose API server listens on `port` (loopback in both modes). */
function issuerUrlOf(port: number): string {
  return `https://127.0.0.1:${port}`;
}

function apiserverArgs(
  pki: Pki,
  etcdPort: number,
  port: number,
  audit: { log: string; policy: string },
  nodes: StartControlPlaneOptions['nodes'],
): string[] {
  const modeArgs =
    nodes === undefined
      ? [
          // Without it the apiserver looks for a default route to find its address and fails offline.
          '--advertise-address=127.0.0.1',
          // Endpoints validation rejects loopback IPs; skip writing the "kubernetes" Endpoints at all.
          '--endpoint-reconciler-type=none',
          '--authorization-mode=RBAC',
          // No controller-manager creates "default" ServiceAccounts, so that admission would reject pods.
          '--disable-admission-plugins=ServiceAccount',
        ]
      : [
          `--advertise-address=${nodes.advertiseAddress}`,
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction',
          '--kubelet-preferred-address-types=InternalIP',
        ];
  return [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    ...modeArgs,
    ...pki.args,
    `--service-account-issuer=${issuerUrlOf(port)}`,
    `--service-account-jwks-uri=${jwksUriOf(issuerUrlOf(port))}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--allow-privileged=true',
    `--audit-log-path=${audit.log}`,
    `--audit-policy-file=${audit.policy}`,
    '--audit-log-format=json',
    '--audit-log-mode=blocking',
  ];
}

async function apiserverReady(server: string, admin: TlsClient): Promise<boolean> {
  const ready = await httpsGet(`${server}/readyz`, admin);
  if (ready.status !== 200) return false;
  // /readyz can pass before the bootstrap controller has created the default namespace.
  return (await httpsGet(`${server}/api/v1/namespaces/default`, admin)).status === 200;
}

async function etcdHealthy(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
  return res.ok;
}

/**
 * Starts etcd and kube-apiserver on free loopback ports, with client-cert authn, RBAC and an audit
 * log, as a service-account token issuer whose discovery anyone may read (issuer-discovery.ts).
 * Removes leftovers of crashed earlier runs first. Torn down by stop(), or on process exit.
 */
export async function startControlPlane(options: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  await cleanupStale();
  const bins = options.binDir === undefined ? await locateBinaries() : await binariesIn(options.binDir);
  const timeoutMs = options.startTimeoutMs ?? startTimeoutFromEnv();
  const name = newPlaneName();
  const roots = planeRoots();
  const dir = path.join(roots.tmp, name);
  const etcdData = path.join(roots.shm, `${name}-etcd`);
  await mkdir(dir, { mode: 0o700 });

  let etcd: ManagedProcess | undefined;
  let apiserver: ManagedProcess | undefined;
  const untrack = track(
    {
      dirs: [dir, etcdData],
      killSync: () => {
        apiserver?.killSync();
        etcd?.killSync();
      },
    },
    { signals: options.killOnSignal ?? true },
  );
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await apiserver?.stop(STOP_GRACE_MS);
      await etcd?.stop(STOP_GRACE_MS);
      await Promise.all([rm(dir, { recursive: true, force: true }), rm(etcdData, { recursive: true, force: true })]);
      untrack();
    })();
    return stopped;
  };

  try {
    const binDir = await linkBinDir(bins, dir);
    const pki = await makePki(dir, options.nodes);
    const audit = { log: path.join(dir, 'audit.log'), policy: path.join(dir, 'audit-policy.yaml') };
    await writeFile(audit.policy, AUDIT_POLICY_YAML);

    let server = '';
    let issuerUrl = '';
    let apiArgs: string[] = [];
    let startupMs = 0;
    // Ports are free when picked but another program may grab one before we bind: retry on a clash.
    for (let attempt = 1; ; attempt++) {
      const [etcdPort, peerPort, apiPort] = (await freePorts(3)) as [number, number, number];
      server = `https://127.0.0.1:${apiPort}`;
      issuerUrl = issuerUrlOf(apiPort);
      apiArgs = [...apiserverArgs(pki, etcdPort, apiPort, audit, options.nodes), ...(options.extraApiServerArgs ?? [])];
      const t0 = performance.now();
      const deadline = Date.now() + timeoutMs;
      try {
        await mkdir(etcdData, { mode: 0o700 });
        etcd = await startProcess({ name: 'etcd', file: bins.etcd, args: etcdArgs(etcdData, etcdPort, peerPort), dir });
        await waitFor('etcd /health', deadline, [etcd], () => etcdHealthy(etcdPort));
        apiserver = await startProcess({ name: 'kube-apiserver', file: bins.kubeApiserver, args: apiArgs, dir });
        await waitFor('kube-apiserver /readyz and namespace default', deadline, [etcd, apiserver], () =>
          apiserverReady(server, pki.admin),
        );
        startupMs = Math.round(performance.now() - t0);
        break;
      } catch (e) {
        await apiserver?.stop(STOP_GRACE_MS);
        await etcd?.stop(STOP_GRACE_MS);
        apiserver = etcd = undefined;
        await rm(etcdData, { recursive: true, force: true });
        if (!(e instanceof StartupError && e.portClash && attempt < 3)) throw e;
      }
    }

    const kubeconfigPath = await writeKubeconfig(path.join(dir, 'admin.kubeconfig'), { server, caPem: pki.caPem }, 'admin', {
      kind: 'cert',
      certPem: pki.admin.certPem,
      keyPem: pki.admin.keyPem,
    });
    const info: ControlPlaneInfo = {
      dir,
      server,
      caPem: pki.caPem,
      issuerUrl,
      kubeconfigPath,
      binDir,
      auditLogPath: audit.log,
      startupMs,
    };

    const kubectl = (args: string[], o?: KubectlOptions): Promise<RunResult> => runKubectl(info, args, o);
    await Promise.all([
      // No kube-controller-manager: fill admin/edit/view ourselves (restarts keep the filled rules).
      aggregateClusterRoles(kubectl),
      // Token verifiers (the simulator's Entra ID) fetch the issuer's keys without credentials.
      allowAnonymousIssuerDiscovery({ issuerUrl, caPem: pki.caPem, kubectl }),
    ]);

    return {
      ...info,
      info: () => info,
      kubectl,
      createClientCertUser: (user, groups) => createClientCertUser(info, user, groups),
      serviceAccountKubeconfig: (ns, sa, exp) => serviceAccountKubeconfig(info, ns, sa, exp),
      async restartApiServer() {
        if (stopped !== undefined || etcd === undefined) throw new Error('control plane is stopped');
        await apiserver?.stop(STOP_GRACE_MS);
        apiserver = await startProcess({ name: 'kube-apiserver', file: bins.kubeApiserver, args: apiArgs, dir });
        const running = [etcd, apiserver];
        await waitFor('restarted kube-apiserver', Date.now() + timeoutMs, running, () => apiserverReady(server, pki.admin));
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
