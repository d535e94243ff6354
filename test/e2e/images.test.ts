/**
 * The container images (Dockerfile.mic, Dockerfile.nmi; docs/images.md) run for real. There is no
 * container runtime that works here (crun's setrlimit is refused), so each image's root filesystem is
 * mounted read-only with `podman image mount` and its configured entrypoint runs under `chroot` with the
 * image's user, working directory and environment (and nothing of ours), inside a private mount
 * namespace that holds the tmpfs /tmp and /run, /dev, /proc, /sys and the bind-mounted kubeconfig,
 * azure.json and CA. So the Node binary, node_modules, compiled code, runtime settings, iptables and
 * conntrack are all the image's. Against a real API server and the Azure simulator (MicWorld):
 * - MIC from its image, as uid 1000, becomes Active and assigns a pod's identity to the scale set;
 * - NMI from its image, as root inside a node network namespace, installs its NAT rules with the image's
 *   iptables-restore (read back with the image's iptables) and gives a pod in a pod namespace a token for
 *   its identity at http://169.254.169.254.
 * The client image (test/clients/Dockerfile, the real-node tier's user pods) runs as real containers with
 * `podman run --runtime runc` and rlimits no higher than ours (which runc applies where crun cannot):
 * uid 1000, curl, the npm packages at the lock file's versions, the Python pins, and each scenario script
 * loading and printing its one result line.
 * Images come from POD_IDENTITY_MIC_IMAGE / POD_IDENTITY_NMI_IMAGE / POD_IDENTITY_CLIENT_IMAGE (.ci/run
 * builds them first) or are built here with scripts/build-images.sh. Every mount namespace dies with its
 * process; the image mounts are undone with `podman image unmount`; the network namespaces are deleted.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chown, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedChainRules, type IptablesConfig } from '../../src/nmi/node/iptables/rules.ts';
import { repoRoot } from '../../src/devenv/binaries.ts';
import { run, runOk } from '../../src/devenv/exec.ts';
import { assertNetnsPrerequisites, createTopology, IMDS_IP, type NetnsTopology, rootNamespaceChange, rootNamespaceSnapshot } from '../../src/devenv/netns.ts';
import { freePorts } from '../../src/devenv/ports.ts';
import { startProcess, type ManagedProcess } from '../../src/devenv/process.ts';
import { MicWorld } from '../support/mic-world.ts';
import { ARM_RESOURCE, curlToken, interceptionInstalled, NMI_PORT, nodeNmiArgs, startImdsRelay, waitForNmiServing, waitUntil } from '../support/nmi-e2e.ts';

const NS = 'image-apps';

interface ImageConfig {
  readonly User?: string;
  readonly Env?: string[];
  readonly Entrypoint?: string[];
  readonly Cmd?: string[];
  readonly WorkingDir?: string;
}

interface MountedImage {
  readonly name: string;
  readonly root: string;
  readonly config: ImageConfig;
}

/** Sets up the private mount namespace, then execs chroot; positional: root workdir userspec chroot nbinds binds… command… */
const CHROOT_SCRIPT = `set -e
root=$1; workdir=$2; userspec=$3; chroot_bin=$4; nbinds=$5; shift 5
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mount --rbind /dev "$root/dev"
mount --rbind /proc "$root/proc"
mount --rbind /sys "$root/sys"
while [ "$nbinds" -gt 0 ]; do mkdir -p "$root$1"; mount --bind "$1" "$root$1"; shift; nbinds=$((nbinds - 1)); done
exec "$chroot_bin" --userspec="$userspec" "$root" /bin/sh -c 'cd "$0" && exec "$@"' "$workdir" "$@"`;

const CHROOT = ['/usr/sbin/chroot', '/usr/bin/chroot'].find((file) => existsSync(file)) ?? 'chroot';

/**
 * `unshare --mount … chroot …` running `command` (default: the image's entrypoint + cmd + `args`) in the
 * mounted image with the image's environment plus `env`. Every program on the way execs the next, so the
 * returned command's pid ends up being the entrypoint's. `binds` (directories under /tmp) appear at the
 * same paths inside.
 */
function inImage(image: MountedImage, options: { args?: readonly string[]; command?: readonly string[]; env?: Record<string, string>; binds?: readonly string[] }): [string, string[]] {
  const binds = options.binds ?? [];
  for (const dir of binds) if (!dir.startsWith('/tmp/')) throw new Error(`bind ${dir}: only directories under /tmp (a tmpfs in the chroot) can be bound`);
  const command = options.command ?? [...(image.config.Entrypoint ?? []), ...(image.config.Cmd ?? []), ...(options.args ?? [])];
  const env = [...(image.config.Env ?? []), ...Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`)];
  const user = image.config.User === undefined || image.config.User === '' ? '0:0' : image.config.User;
  if (!/^\d+:\d+$/.test(user)) throw new Error(`${image.name}: USER ${user} is not numeric uid:gid`);
  return [
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'env', '-i', ...env, '/bin/sh', '-c', CHROOT_SCRIPT, 'sh', image.root, image.config.WorkingDir ?? '/', user, CHROOT, String(binds.length), ...binds, ...command],
  ];
}

interface ImageNames {
  readonly mic: string;
  readonly nmi: string;
  readonly client: string;
}

let imageNamesOnce: Promise<ImageNames> | undefined;

/** The three images' names: the variables .ci/run exports, else what scripts/build-images.sh (run once) prints. */
function imageNames(): Promise<ImageNames> {
  imageNamesOnce ??= (async () => {
    const variables = { mic: 'POD_IDENTITY_MIC_IMAGE', nmi: 'POD_IDENTITY_NMI_IMAGE', client: 'POD_IDENTITY_CLIENT_IMAGE' } as const;
    let found: Record<string, string | undefined> = Object.fromEntries(Object.values(variables).map((variable) => [variable, process.env[variable] === '' ? undefined : process.env[variable]]));
    if (Object.values(found).some((value) => value === undefined)) {
      const built = await run('bash', [path.join(repoRoot, 'scripts/build-images.sh')], { timeoutMs: 1_500_000, teeStderr: true });
      if (built.code !== 0) throw new Error(`scripts/build-images.sh failed (${String(built.code)}):\n${built.stderr.slice(-4000)}`);
      found = Object.fromEntries(built.stdout.trim().split('\n').map((line) => line.split('=', 2) as [string, string]));
    }
    const name = (key: keyof typeof variables): string => {
      const value = found[variables[key]];
      if (value === undefined || value === '') throw new Error(`no image name ${variables[key]}: build the images with \`bash scripts/build-images.sh\` (as root) and export the variables it prints`);
      return value;
    };
    return { mic: name('mic'), nmi: name('nmi'), client: name('client') };
  })();
  return imageNamesOnce;
}

/** Uid and environment of a running process, from /proc. */
async function processFacts(pid: number): Promise<{ uid: number; rssMb: number; env: string[]; exe: string; root: string }> {
  const status = await readFile(`/proc/${String(pid)}/status`, 'utf8');
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
  const rssMb = Math.round(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024);
  const env = (await readFile(`/proc/${String(pid)}/environ`, 'utf8')).split('\0').filter((entry) => entry !== '');
  const exe = (await run('readlink', [`/proc/${String(pid)}/exe`])).stdout.trim();
  const root = (await run('readlink', [`/proc/${String(pid)}/root`])).stdout.trim();
  return { uid, rssMb, env, exe, root };
}

/** The runtime settings a Dockerfile's ENV sets (NODE_OPTIONS, MALLOC_*), as NAME=value lines. */
function dockerfileEnv(file: string): string[] {
  const lines = readFileSync(path.join(repoRoot, file), 'utf8').split('\n');
  const start = lines.findIndex((line) => line.startsWith('ENV '));
  let block = '';
  for (let index = start; index >= 0 && index < lines.length; index++) {
    const line = lines[index] ?? '';
    block += ` ${line.replace(/\\$/, '')}`;
    if (!line.endsWith('\\')) break;
  }
  return [...block.matchAll(/(NODE_OPTIONS|MALLOC_[A-Z_]+)=("[^"]*"|\S+)/g)].map((match) => `${match[1] ?? ''}=${(match[2] ?? '').replace(/^"|"$/g, '')}`);
}

describe('the MIC and NMI images, entrypoints run from the mounted images', () => {
  let world: MicWorld | undefined;
  let topo: NetnsTopology | undefined;
  let dir: string | undefined;
  let before: Awaited<ReturnType<typeof rootNamespaceSnapshot>> | undefined;
  const mounted: MountedImage[] = [];
  const processes: ManagedProcess[] = [];
  let micImage: MountedImage;
  let nmiImage: MountedImage;
  let node: string;
  let identity: { id: string; clientId: string; principalId: string };

  const w = (): MicWorld => {
    if (world === undefined) throw new Error('world not started');
    return world;
  };
  const t = (): NetnsTopology => {
    if (topo === undefined) throw new Error('topology not created');
    return topo;
  };
  const d = (): string => {
    if (dir === undefined) throw new Error('no directory');
    return dir;
  };

  const mount = async (name: string): Promise<MountedImage> => {
    const [config] = JSON.parse(await runOk('podman', ['image', 'inspect', '--format', '{{json .Config}}', name]).then((out) => `[${out.trim()}]`)) as [ImageConfig];
    const root = (await runOk('podman', ['image', 'mount', name], { timeoutMs: 60_000 })).trim();
    const image = { name, root, config };
    mounted.push(image);
    return image;
  };

  beforeAll(async () => {
    await assertNetnsPrerequisites();
    const names = await imageNames();
    before = await rootNamespaceSnapshot();
    micImage = await mount(names.mic);
    nmiImage = await mount(names.nmi);

    world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } });
    node = world.scaleSetNodes[0] ?? '';
    // What the processes in the images read, in one directory of MIC's user (uid 1000 in the image).
    dir = await mkdtemp(path.join(os.tmpdir(), 'pi-images-'));
    await copyFile(world.plane.kubeconfigPath, path.join(dir, 'kubeconfig'));
    await writeFile(path.join(dir, 'sim-ca.pem'), world.sim.caPem);
    const azureJson = JSON.parse(await readFile(world.azureJsonPath, 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(dir, 'azure.json'), JSON.stringify({ ...azureJson, caFile: path.join(dir, 'sim-ca.pem') }), { mode: 0o600 });
    for (const file of ['', 'kubeconfig', 'sim-ca.pem', 'azure.json']) await chown(path.join(dir, file), 1000, 1000);
  }, 1_800_000);

  afterAll(async () => {
    const errors: unknown[] = [];
    for (const proc of processes) await proc.stop(5_000).catch((error: unknown) => errors.push(error));
    await topo?.cleanup().catch((error: unknown) => errors.push(error));
    for (const image of mounted.reverse()) {
      const result = await run('podman', ['image', 'unmount', image.name], { timeoutMs: 60_000 }).catch((error: unknown) => ({ code: -1, stderr: String(error), stdout: '' }));
      if (result.code !== 0) errors.push(new Error(`podman image unmount ${image.name}: ${result.stderr}`));
    }
    await world?.stop().catch((error: unknown) => errors.push(error));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    const changed = before === undefined ? undefined : await rootNamespaceChange(before);
    if (changed !== undefined) errors.push(changed);
    if (errors.length > 0) throw new AggregateError(errors, 'images test cleanup failed');
  }, 120_000);

  it('MIC image: runs as uid 1000 with its runtime settings, becomes Active and assigns an identity', async () => {
    expect(micImage.config.User).toBe('1000:1000');
    const [healthPort, metricsPort] = (await freePorts(2)) as [number, number];
    const [file, args] = inImage(micImage, {
      binds: [d()],
      env: { MIC_POD_NAMESPACE: 'kube-system' },
      args: [
        `--kubeconfig=${path.join(d(), 'kubeconfig')}`,
        `--cloudconfig=${path.join(d(), 'azure.json')}`,
        '--leader-election-instance=mic-image',
        '--leader-election-namespace=kube-system',
        '--leader-election-duration=4s',
        `--http-probe-port=${String(healthPort)}`,
        `--prometheus-port=${String(metricsPort)}`,
        '--health-bind-address=127.0.0.1',
        '--metrics-bind-address=127.0.0.1',
        '--log-format=json',
        '--identity-removal-grace-period=0s',
      ],
    });
    const mic = await startProcess({ name: 'mic-image', file, args, dir: d() });
    processes.push(mic);
    const health = async (): Promise<string> => fetch(`http://127.0.0.1:${String(healthPort)}/healthz`).then((response) => response.text()).catch(() => '');
    const activeMs = await waitUntil('MIC from the image to become Active', async () => {
      if (mic.exit() !== undefined) throw new Error(`MIC exited ${JSON.stringify(mic.exit())}:\n${await mic.tail()}`);
      return (await health()) === 'Active';
    }, 60_000, 100);
    console.log(`images: MIC from ${micImage.name} Active ${String(activeMs)} ms after start`);

    // The process is the image's node, chrooted, as uid 1000, with the image's settings and no more.
    const facts = await processFacts(mic.pid);
    expect(facts.uid).toBe(1000);
    expect(facts.root).toBe(micImage.root);
    expect(facts.exe).toBe(path.join(micImage.root, 'usr/local/bin/node'));
    expect(facts.env).toEqual(expect.arrayContaining([...dockerfileEnv('Dockerfile.mic'), 'NODE_ENV=production']));
    expect(facts.env.some((entry) => entry.startsWith('KUBEBUILDER_ASSETS=') || entry.startsWith('NODE_EXTRA_CA_CERTS='))).toBe(false);
    const metrics = await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`).then((response) => response.text());
    expect(metrics).toMatch(/nodejs_version_info\{[^}]*version="v24\./);

    await w().namespace(NS);
    identity = await w().azureIdentity('image-identity');
    await w().createIdentity(NS, 'identity', { type: 0, resourceID: identity.id, clientID: identity.clientId });
    await w().createBinding(NS, 'binding', 'identity', 'select-image');
    topo = await createTopology({ pods: 1 });
    await w().createPod(NS, 'app', node, 'select-image', { ip: t().pods[0]?.ip ?? '' });
    const assignedMs = await waitUntil('MIC from the image to assign the identity', async () => (await w().assignedFor(NS, 'app')).map((aai) => aai.status?.status).join() === 'Assigned', 60_000, 200);
    console.log(`images: identity assigned ${String(assignedMs)} ms after the pod`);
    expect(w().scaleSetIdentities()).toEqual([identity.id.toLowerCase()]);
    console.log(`images: MIC RSS ${String((await processFacts(mic.pid)).rssMb)} MB`);
  });

  it('NMI image: as root in the node namespace, installs its rules with the image iptables and serves the pod a token', async () => {
    expect(nmiImage.config.User ?? '0:0').toMatch(/^(0:0|)$/);
    expect(identity).toBeDefined();
    const pod = t().pods[0];
    if (pod === undefined) throw new Error('no pod namespace');
    // The node reaches the API server at its kubeconfig's 127.0.0.1:port and its IMDS on 169.254.169.254:80.
    const apiPort = Number(new URL(w().kc.getCurrentCluster()?.server ?? '').port);
    await t().expose(t().node, { listenHost: '127.0.0.1', listenPort: apiPort, target: { host: '127.0.0.1', port: apiPort } });
    const imds = new URL((await w().sim.startImds(node)).url);
    await t().expose(t().node, { listenHost: '127.0.0.1', listenPort: Number(imds.port), target: { host: imds.hostname, port: Number(imds.port) } });
    await startImdsRelay(t(), `127.0.0.1:${imds.port}`);

    const config: IptablesConfig = { chain: 'aad-metadata', metadataIp: IMDS_IP, metadataPort: 80, targetIp: pod.gateway, targetPort: NMI_PORT };
    const nmiArgs = nodeNmiArgs({ node, kubeconfig: path.join(d(), 'kubeconfig'), dnatIp: config.targetIp, caFile: path.join(d(), 'sim-ca.pem') }).slice(1);
    const [file, args] = inImage(nmiImage, { binds: [d()], env: { NODE_EXTRA_CA_CERTS: path.join(d(), 'sim-ca.pem') }, args: nmiArgs });
    const nmi = await t().start(t().node, 'nmi-image', file, args);
    const servingMs = await waitForNmiServing(t(), nmi, config.targetIp, 60_000);
    console.log(`images: NMI from ${nmiImage.name} Active and serving ${String(servingMs)} ms after start`);

    const facts = await processFacts(nmi.pid);
    expect(facts.uid).toBe(0);
    expect(facts.root).toBe(nmiImage.root);
    expect(facts.env).toEqual(expect.arrayContaining(dockerfileEnv('Dockerfile.nmi')));

    // The image's own iptables (nf_tables backend) reads back exactly the rules NMI installed with it.
    const imageIptables = async (iptablesArgs: string[]): Promise<string> => {
      const [ipt, iptArgs] = inImage(nmiImage, { command: ['iptables', ...iptablesArgs] });
      return t().execOk(t().node, ipt, iptArgs, { timeoutMs: 30_000 });
    };
    expect(await imageIptables(['-V'])).toMatch(/^iptables v1\.8\.\d+ \(nf_tables\)/);
    expect(await imageIptables(['-w', '5', '-t', 'nat', '-S', config.chain])).toBe(expectedChainRules(config).join('\n') + '\n');
    expect((await imageIptables(['-w', '5', '-t', 'nat', '-S', 'PREROUTING'])).split('\n')[1]).toBe(`-A PREROUTING -j ${config.chain}`);
    expect(await interceptionInstalled(t(), config)).toBe(true);
    const [conntrack, conntrackArgs] = inImage(nmiImage, { command: ['conntrack', '--version'] });
    expect(await t().execOk(t().node, conntrack, conntrackArgs)).toMatch(/conntrack v1\.4/);

    // An unmodified client in the pod namespace at the plain IMDS address gets its identity's token.
    const response = await curlToken(t(), pod, { resource: ARM_RESOURCE, client_id: identity.clientId });
    expect(response.status, response.body).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ client_id: identity.clientId, token_type: 'Bearer', resource: ARM_RESOURCE });
    const { rssMb } = await processFacts(nmi.pid);
    console.log(`images: NMI RSS ${String(rssMb)} MB after serving a token`);
    // docs/images.md: ~117-130 MB, nearly all module code (the heap settings only bound growth); a guard
    // against regressions, not the ~90 MB goal, which needs lazier imports in src/.
    expect(rssMb).toBeLessThan(160);
    await nmi.stop(10_000);
    expect(nmi.exit()?.code ?? nmi.exit()?.signal).not.toBe(undefined);
  });
});

/**
 * The client image (test/clients/Dockerfile): what user pods on the real-node tier run. Here it runs as
 * real containers: `podman run` with runc (crun's setrlimit is refused on these machines; runc is fine
 * with rlimits no higher than ours) and no network but loopback, so the token scenarios fail fast at an
 * IMDS address nobody listens on — which still proves each script, its imports and its SDK load in the
 * image and print their one result line.
 */
describe('the client image, run with podman (runc, --network none)', () => {
  const RUNC = ['/usr/sbin/runc', '/usr/bin/runc'].find((file) => existsSync(file));
  const SCOPE = 'https://management.azure.com/.default';
  const CLIENT_ID = 'cccccccc-0000-4000-8000-000000000001';
  /** Loopback inside the container, where nothing listens: connection refused at once. */
  const NOBODY = 'http://127.0.0.1:9';
  let image: string;
  let config: ImageConfig;
  const containers: string[] = [];

  const podmanRun = (args: readonly string[], options: { env?: Record<string, string>; detach?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> => {
    if (RUNC === undefined) throw new Error('runc is not installed (apt-get install runc; .ci/run installs it)');
    const env = Object.entries(options.env ?? {}).flatMap(([key, value]) => ['--env', `${key}=${value}`]);
    const mode = options.detach === undefined ? ['--rm'] : ['--detach', '--name', options.detach];
    return run('podman', ['run', ...mode, '--runtime', RUNC, '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'none', ...env, image, ...args], { timeoutMs: 90_000 });
  };
  const resultLine = (output: { code: number; stdout: string; stderr: string }): Record<string, unknown> => {
    expect(output.code, output.stderr).toBe(0);
    const lines = output.stdout.trim().split('\n');
    expect(lines, output.stdout).toHaveLength(1);
    return JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  };

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the client image test needs root (the images are in root\'s podman store; scripts/build-images.sh builds them as root)');
    image = (await imageNames()).client;
    [config] = JSON.parse(`[${(await runOk('podman', ['image', 'inspect', '--format', '{{json .Config}}', image])).trim()}]`) as [ImageConfig];
  }, 1_800_000);

  afterAll(async () => {
    for (const name of containers) await run('podman', ['rm', '--force', '--time', '0', name], { timeoutMs: 60_000 });
  }, 120_000);

  it('runs as uid/gid 1000 and, given no command, stays up (sleep infinity)', async () => {
    expect(config.User).toBe('1000:1000');
    expect(config.Entrypoint ?? []).toEqual([]);
    expect(config.Cmd).toEqual(['sleep', 'infinity']);
    const ids = await podmanRun(['sh', '-c', 'id -u; id -g; id -un']);
    expect(ids.code, ids.stderr).toBe(0);
    expect(ids.stdout.trim().split('\n')).toEqual(['1000', '1000', 'node']);

    const name = `pi-client-image-${String(process.pid)}`;
    containers.push(name);
    const started = await podmanRun([], { detach: name });
    expect(started.code, started.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const state = await runOk('podman', ['inspect', '--format', '{{.State.Running}} {{json .Config.Cmd}}', name]);
    expect(state.trim()).toBe('true ["sleep","infinity"]');
  });

  it('has curl', async () => {
    const curl = await podmanRun(['curl', '--version']);
    expect(curl.code, curl.stderr).toBe(0);
    expect(curl.stdout).toMatch(/^curl \d+\.\d+/);
  });

  it('Node 24 with @azure/identity and @azure/arm-compute at the exact versions of the repository lock file', async () => {
    expect((await podmanRun(['node', '--version'])).stdout).toMatch(/^v24\./);
    const repoLock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    // npm's record of what it installed: every package, at its place in node_modules.
    const installed = await podmanRun(['cat', '/clients/node/node_modules/.package-lock.json']);
    expect(installed.code, installed.stderr).toBe(0);
    const packages = (JSON.parse(installed.stdout) as { packages: Record<string, { version?: string }> }).packages;
    const versions = Object.fromEntries(Object.entries(packages).map(([at, entry]) => [at, entry.version]));
    expect(versions['node_modules/@azure/identity']).toBe(repoLock.packages['node_modules/@azure/identity']?.version);
    expect(versions['node_modules/@azure/arm-compute']).toBe(repoLock.packages['node_modules/@azure/arm-compute']?.version);
    expect(versions).toEqual(Object.fromEntries(Object.keys(versions).map((at) => [at, repoLock.packages[at]?.version])));
    console.log(`images: client image node_modules: ${String(Object.keys(versions).length)} packages, all at the repository lock's versions`);
  });

  it('node /clients/node/{managed-identity-token,entra-token,pod-app}.ts load with their imports and print one result line', async () => {
    const managed = resultLine(
      await podmanRun(['node', '/clients/node/managed-identity-token.ts', JSON.stringify({ credential: 'managed-identity', identity: { clientId: CLIENT_ID }, scope: SCOPE })], { env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: NOBODY } }),
    );
    expect(managed).toMatchObject({ ok: false, errorName: expect.any(String) as string });
    const entra = resultLine(
      await podmanRun(['node', '/clients/node/entra-token.ts', JSON.stringify({ credential: 'client-secret', authorityHost: NOBODY, tenantId: 'tenant', clientId: CLIENT_ID, clientSecret: 'not-a-secret', scope: SCOPE })]),
    );
    expect(entra).toMatchObject({ ok: false, errorName: expect.any(String) as string });
    // pod-app.ts also loads @azure/arm-compute (it never gets that far here: no token).
    const app = await podmanRun(['node', '/clients/node/pod-app.ts', JSON.stringify({ credential: 'managed-identity', clientId: CLIENT_ID, scope: SCOPE, arm: { endpoint: NOBODY, subscriptionId: 's', resourceGroup: 'g', scaleSet: 'v' } })], {
      env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: NOBODY },
    });
    expect(resultLine(app)).toMatchObject({ ok: false });
  });

  it('python3 is the venv with requirements.txt exactly, and /clients/python/get_token.py prints one result line', async () => {
    const pins = Object.fromEntries(
      readFileSync(path.join(repoRoot, 'test/clients/python/requirements.txt'), 'utf8')
        .split('\n')
        .map((line) => line.replace(/#.*/, '').trim())
        .filter((line) => line !== '')
        .map((line) => line.split('==') as [string, string])
        .map(([name, version]) => [name.toLowerCase().replace(/[-_.]+/g, '-'), version]),
    );
    const listed = await podmanRun(['python3', '-c', 'import importlib.metadata as m, json, sys; print(sys.prefix); print(json.dumps({d.metadata["Name"]: d.version for d in m.distributions()}))']);
    expect(listed.code, listed.stderr).toBe(0);
    const [prefix, distributions] = listed.stdout.trim().split('\n') as [string, string];
    expect(prefix).toBe('/opt/venv');
    const installed = Object.fromEntries(Object.entries(JSON.parse(distributions) as Record<string, string>).map(([name, version]) => [name.toLowerCase().replace(/[-_.]+/g, '-'), version]));
    expect(Object.keys(pins).length).toBeGreaterThan(5);
    for (const [name, version] of Object.entries(pins)) expect(`${name}==${installed[name] ?? 'missing'}`).toBe(`${name}==${version}`);

    const result = resultLine(await podmanRun(['python3', '/clients/python/get_token.py', JSON.stringify({ scope: SCOPE, client_id: CLIENT_ID })], { env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: NOBODY } }));
    expect(result).toMatchObject({ ok: false, errorName: expect.any(String) as string });
  });
});
