/**
 * `pod-identity sandbox` on a real node (docs/sandbox.md): a kubelet + containerd node in a network
 * namespace (src/devenv/node), `helm install` of charts/pod-identity with the project's images, the
 * example identity and binding, two pods of the client image, and the federated example (type 3) with a
 * third — then the same demo as the namespace sandbox, through `kubectl exec … curl`. Chosen as root when the machine has what a node needs
 * ({@link realNodeUnavailable}); otherwise the sandbox runs its pods as bare namespaces and says why.
 * @module
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../../devenv/binaries.ts';
import { run } from '../../devenv/exec.ts';
import { assertCgroupV1 } from '../../devenv/node/cgroups.ts';
import { locateNodeBinaries } from '../../devenv/node/binaries.ts';
import { RELEASE, RELEASE_NAMESPACE, startNodeWorld, worldImages, type NodeWorld, type WorldImages } from '../../devenv/node/world.ts';
import { EXIT_FAILURE, EXIT_OK, type CommandIo } from '../command.ts';
import { ALLOWED_POD, DEMO_NAMESPACE, DENIED_POD, FEDERATED_POD, NODE_GROUP, readExamples, SCALE_SET } from './examples.ts';
import { decodeClaims, RESOURCE } from './phases/demo.ts';
import { federatedTrace, type FederatedTrace } from './phases/federated-trace.ts';
import { federatedChartValues, federatedManifests, seedFederatedIdentity, trustChartNmi, type RealNodeFederation } from './real-node-federated.ts';
import type { SandboxOptions } from './run.ts';

const CHART_DIR = path.join(repoRoot, 'charts', 'pod-identity');
const TOKEN_URL = `http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${RESOURCE}`;

/** Why this machine cannot run the real-node sandbox (one line), or undefined when it can. */
export async function realNodeUnavailable(images: WorldImages): Promise<string | undefined> {
  try {
    await assertCgroupV1();
    await locateNodeBinaries();
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  }
  for (const image of [images.mic, images.nmi, images.client]) {
    const exists = await run('podman', ['image', 'exists', image.ref], { timeoutMs: 30_000 }).catch(() => undefined);
    if (exists?.code !== 0) return `image ${image.ref} is not built (bash scripts/build-images.sh)`;
  }
  return undefined;
}

function demoPod(images: WorldImages, name: string, labels: Record<string, string>, node: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: DEMO_NAMESPACE, labels },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'demo', image: images.client.ref, imagePullPolicy: 'Never', command: ['sleep', 'infinity'] }],
    },
  };
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function curlToken(world: NodeWorld, pod: string): Promise<Answer> {
  const result = await world.cluster.kubectl(['exec', '-n', DEMO_NAMESPACE, pod, '--', 'curl', '-s', '-m', '30', '-H', 'Metadata: true', '-w', '\n%{http_code}', TOKEN_URL], { timeoutMs: 60_000 });
  const lines = result.stdout.split('\n');
  const status = Number(lines.at(-1));
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(lines.slice(0, -1).join('\n')) as Record<string, unknown>;
  } catch {
    body = { error: `${result.stderr}${result.stdout}`.trim().slice(0, 200) };
  }
  return { status, body };
}

/** Runs the real-node sandbox; resolves to the exit code once everything it started is gone again. */
export async function runRealNodeSandbox(options: SandboxOptions, images: WorldImages, io: CommandIo): Promise<number> {
  const say = (text: string): void => void (options.json ? io.stderr : io.stdout).write(`${text}\n`);
  const started = performance.now();
  const seconds = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`;
  const STEPS = 5;
  let stepNo = 0;
  const step = async <T>(label: string, work: () => Promise<T>, detail: (value: T) => string): Promise<T> => {
    stepNo++;
    if (io.shutdown.aborted) throw new Error(`${label}: interrupted`);
    const t0 = performance.now();
    const value = await work().catch((error: unknown) => {
      throw new Error(`${label}: ${(error as Error).message}`, { cause: error });
    });
    say(`  [${stepNo}/${STEPS}] ${label.padEnd(20)} ${detail(value)} (${seconds(t0)})`);
    return value;
  };

  let world: NodeWorld | undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'pod-identity-sandbox-'));
  let code: number = EXIT_OK;
  try {
    say('pod-identity sandbox: the whole system on this machine on a real node — kubelet + containerd in a network namespace, MIC and NMI installed with helm from the images');
    const examples = await readExamples();
    world = await step(
      'cluster',
      () => startNodeWorld({ images, nodes: 1, tenantId: examples.federated.tenantId, azure: { subscriptionId: examples.identity.subscriptionId, nodeGroup: NODE_GROUP, scaleSet: SCALE_SET } }),
      (w) => `kube-apiserver ${w.cluster.plane.server}; node ${w.nodeNames[0] ?? '?'} Ready (kubelet, containerd + runc, kube-proxy); simulated ARM ${w.armUrlInCluster}`,
    );
    const running = world;
    const node = running.nodeNames[0] ?? '';
    const kubeconfig = path.join(dir, 'kubeconfig');
    await copyFile(running.cluster.plane.kubeconfigPath, kubeconfig);
    await running.admin.seedResourceGroup({ subscriptionId: examples.identity.subscriptionId, resourceGroup: examples.identity.resourceGroup });
    await running.admin.seedIdentity({ subscriptionId: examples.identity.subscriptionId, resourceGroup: examples.identity.resourceGroup, name: examples.identity.name, clientId: examples.identity.clientId, location: 'westeurope' });
    const federatedId = await seedFederatedIdentity(running, examples.federated);

    const federation = await step(
      'helm install',
      async () => {
        const values = Object.entries({ ...running.chartValues(), ...federatedChartValues(running) }).flatMap(([key, value]) => ['--set', `${key}=${value}`]);
        await running.helm(['install', RELEASE, CHART_DIR, '-n', RELEASE_NAMESPACE, '--create-namespace', ...values, '--wait', '--timeout', '240s']);
        await running.kubectl(['rollout', 'status', '-n', RELEASE_NAMESPACE, `daemonset/${RELEASE}-nmi`, '--timeout=240s'], { timeoutMs: 250_000 });
        return trustChartNmi(running, federatedId);
      },
      (trust: RealNodeFederation) =>
        `charts/pod-identity as release ${RELEASE_NAMESPACE}/${RELEASE}: MIC ${images.mic.ref}, NMI ${images.nmi.ref}; ${examples.federated.azureName} trusts ${trust.subject} from ${trust.issuer}`,
    );

    await step(
      'examples',
      async () => {
        for (const file of examples.files.filter((f) => !f.endsWith('pods.yaml'))) await running.kubectl(['apply', '-f', file]);
        await running.kubectl(['apply', '-f', '-'], {
          input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [demoPod(images, ALLOWED_POD, { aadpodidbinding: 'demo' }, node), demoPod(images, DENIED_POD, {}, node)] }),
        });
        await running.kubectl(['apply', '-f', '-'], { input: await federatedManifests(examples.federatedFile, images.client.ref, node) });
        await running.kubectl(['wait', '-n', DEMO_NAMESPACE, '--for=condition=Ready', `pod/${ALLOWED_POD}`, `pod/${DENIED_POD}`, `pod/${FEDERATED_POD}`, '--timeout=120s'], { timeoutMs: 130_000 });
      },
      () => `namespace, identities and bindings from examples/sandbox (federated.yaml too); pods ${ALLOWED_POD}, ${DENIED_POD} and ${FEDERATED_POD} of ${images.client.ref}`,
    );

    await step(
      'identity assigned',
      async () => {
        for (let attempt = 0; attempt < 450; attempt++) {
          const list = JSON.parse(await running.kubectl(['get', 'azureassignedidentities', '-A', '-o', 'json'])) as { items: { metadata: { namespace: string; name: string }; spec?: { pod?: string; podNamespace?: string }; status?: { status?: string } }[] };
          const assignedFor = (pod: string): string | undefined => {
            const found = list.items.find((aai) => aai.spec?.pod === pod && aai.spec.podNamespace === DEMO_NAMESPACE && aai.status?.status === 'Assigned');
            return found === undefined ? undefined : `${found.metadata.namespace}/${found.metadata.name}`;
          };
          const [allowedAai, federatedAai] = [assignedFor(ALLOWED_POD), assignedFor(FEDERATED_POD)];
          if (allowedAai !== undefined && federatedAai !== undefined) return { allowed: allowedAai, federated: federatedAai };
          if (io.shutdown.aborted) throw new Error('interrupted');
          await sleep(200);
        }
        throw new Error(`MIC did not assign ${examples.identity.name} within 90 s (kubectl logs -n ${RELEASE_NAMESPACE} deploy/${RELEASE}-mic)`);
      },
      (names) => `MIC (authenticated as the node, through NMI) added ${examples.identity.name} to the scale set; AzureAssignedIdentity ${names.allowed} Assigned; federated: ${names.federated} Assigned, nothing added`,
    );

    const pods = await step(
      'kubectl get pods -A',
      () => running.kubectl(['get', 'pods', '-A', '-o', 'wide']),
      () => '',
    );
    say(pods.trimEnd().split('\n').map((line) => `      ${line}`).join('\n'));

    say('');
    say(`${DEMO_NAMESPACE}/${ALLOWED_POD} (label aadpodidbinding: demo) asks for a token:`);
    say(`  $ kubectl exec -n ${DEMO_NAMESPACE} ${ALLOWED_POD} -- curl -s -H Metadata:true '${TOKEN_URL}'`);
    const allowed = await curlToken(running, ALLOWED_POD);
    const token = allowed.body['access_token'];
    const claims = typeof token === 'string' ? decodeClaims(token) : undefined;
    if (claims === undefined) say(`  → HTTP ${allowed.status} ${JSON.stringify(allowed.body)}`);
    else {
      say(`  → HTTP ${allowed.status}, a token (not shown) with claims:`);
      say(`      appid     ${String(claims['appid'])}   (client ID of ${examples.identity.name})`);
      say(`      xms_mirid ${String(claims['xms_mirid'])}`);
    }
    say(`${DEMO_NAMESPACE}/${DENIED_POD} (no binding label) asks the same:`);
    const denied = await curlToken(running, DENIED_POD);
    say(`  → HTTP ${denied.status} ${JSON.stringify(denied.body)}`);
    say(`${DEMO_NAMESPACE}/${FEDERATED_POD} (label aadpodidbinding: demo-federated) asks the same, bound to ${examples.federated.name}, a federated identity (type 3):`);
    const { lastSeq } = await running.admin.requests({ limit: 1 });
    const federated = await curlToken(running, FEDERATED_POD);
    const trace: FederatedTrace = federatedTrace((await running.admin.requests({ since: lastSeq })).entries, running.sim.store.snapshot(), federation.resourceId);
    const federatedToken = federated.body['access_token'];
    const federatedClaims = typeof federatedToken === 'string' ? decodeClaims(federatedToken) : undefined;
    if (federatedClaims === undefined) say(`  → HTTP ${federated.status} ${JSON.stringify(federated.body)}`);
    else {
      say(`  → HTTP ${federated.status}, a token (not shown) with claims:`);
      say(`      appid     ${String(federatedClaims['appid'])}   (client ID of ${examples.federated.azureName}, the federated identity)`);
      say(`      xms_mirid ${String(federatedClaims['xms_mirid'])}`);
      say(
        `  NMI presented its kubelet-projected token (${federation.subject}, issuer ${federation.issuer}) to Entra ID: ` +
          `${trace.entraExchanges} client-assertion exchange${trace.entraExchanges === 1 ? '' : 's'}, ${trace.armWrites} ARM writes for it, ${trace.imdsRequests} IMDS requests; ` +
          (trace.onNode ? 'ON the scale set: this must not happen' : 'not on the scale set'),
      );
    }
    const problems: string[] = [];
    if (String(claims?.['appid']).toLowerCase() !== examples.identity.clientId.toLowerCase()) problems.push(`${ALLOWED_POD} did not get a token for ${examples.identity.name}`);
    if (typeof denied.body['access_token'] === 'string') problems.push(`${DENIED_POD} got a token`);
    if (String(federatedClaims?.['appid']).toLowerCase() !== examples.federated.clientId.toLowerCase()) problems.push(`${FEDERATED_POD} did not get a token for ${examples.federated.name}`);
    if (trace.armWrites > 0) problems.push(`ARM was written to (${trace.armWrites}) while ${FEDERATED_POD} got its token`);
    if (trace.imdsRequests > 0) problems.push(`the node's IMDS was asked (${trace.imdsRequests}) while ${FEDERATED_POD} got its token`);
    if (trace.onNode) problems.push(`${examples.federated.azureName} was put on the node`);

    const summary = {
      ok: problems.length === 0,
      state: problems.length > 0 ? 'failed' : options.once ? 'done' : 'ready',
      mode: 'real-node',
      ...(problems.length > 0 ? { step: 'demo', error: problems.join('; ') } : {}),
      kubeconfig,
      kubectl: path.join(running.cluster.plane.binDir, 'kubectl'),
      node,
      release: `${RELEASE_NAMESPACE}/${RELEASE}`,
      allowed: { pod: ALLOWED_POD, status: allowed.status, token: claims !== undefined, ...(claims === undefined ? {} : { claims: { appid: claims['appid'], xms_mirid: claims['xms_mirid'] } }) },
      denied: { pod: DENIED_POD, status: denied.status, token: typeof denied.body['access_token'] === 'string', error: denied.body['error'] },
      federated: {
        pod: FEDERATED_POD,
        status: federated.status,
        token: federatedClaims !== undefined,
        ...(federatedClaims === undefined ? { error: federated.body['error'] } : { claims: { appid: federatedClaims['appid'], xms_mirid: federatedClaims['xms_mirid'] } }),
        trace,
        issuer: federation.issuer,
        subject: federation.subject,
      },
      startupMs: Math.round(performance.now() - started),
    };
    if (problems.length > 0) {
      code = EXIT_FAILURE;
      io.stderr.write(`sandbox: ${problems.join('; ')}\n`);
    } else if (!options.once) {
      say('');
      say('Poke at it (another terminal):');
      say(`  export KUBECONFIG=${kubeconfig}`);
      say(`  export PATH=${running.cluster.plane.binDir}:$PATH    # kubectl, helm`);
      say('  kubectl get pods -A -o wide');
      say(`  kubectl logs -n ${RELEASE_NAMESPACE} daemonset/${RELEASE}-nmi`);
      say(`  kubectl exec -n ${DEMO_NAMESPACE} ${ALLOWED_POD} -- curl -s -H Metadata:true '${TOKEN_URL}'`);
      say(`  kubectl exec -n ${DEMO_NAMESPACE} ${DENIED_POD} -- curl -s -H Metadata:true '${TOKEN_URL}'`);
      say(`  kubectl exec -n ${DEMO_NAMESPACE} ${FEDERATED_POD} -- curl -s -H Metadata:true '${TOKEN_URL}'`);
      say(`  helm list -A`);
      say(`Ready in ${seconds(started)}. Ctrl-C to stop (removes the node, its namespaces, processes and files).`);
    }
    if (options.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
    if (code === EXIT_OK && !options.once) {
      await new Promise<void>((resolve) => {
        if (io.shutdown.aborted) resolve();
        else io.shutdown.addEventListener('abort', () => { resolve(); }, { once: true });
      });
      say('stopping');
    }
  } catch (error) {
    code = EXIT_FAILURE;
    io.stderr.write(`sandbox failed: ${(error as Error).message}\n`);
    if (options.json) io.stdout.write(`${JSON.stringify({ ok: false, state: 'failed', mode: 'real-node', error: (error as Error).message })}\n`);
  } finally {
    const t0 = performance.now();
    await world?.stop().catch((error: unknown) => {
      io.stderr.write(`sandbox: clean-up failed: ${(error as Error).message}\n`);
      code = EXIT_FAILURE;
    });
    if (!options.keepDir) await rm(dir, { recursive: true, force: true });
    say(`stopped: node, processes, namespaces and files removed (${seconds(t0)})`);
  }
  return code;
}

/** The images the real-node sandbox uses: the build script's names, or the POD_IDENTITY_*_IMAGE variables. */
export function sandboxImages(): WorldImages {
  return worldImages({ required: false });
}
