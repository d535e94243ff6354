/**
 * The chart on real nodes (issue 13): `helm install` of charts/pod-identity onto a cluster whose nodes
 * are kubelet + containerd (runc) in network namespaces (src/devenv/node), MIC and NMI running from the
 * project's images with the chart's own args, securityContext, mounts, env and probes; user pods of the
 * client image get tokens with curl, Node's DefaultAzureCredential and Python's
 * ManagedIdentityCredential and use them on the simulated ARM; then the lifecycle — helm upgrade, NMI
 * deleted, helm uninstall — with every pod connection that reaches a node's IMDS counted.
 *
 * Needs root, cgroup v1, containerd/runc/CNI plugins, the node binaries and the images: it fails (never
 * skips) naming what is missing (.ci/run provides all of it).
 */
import type { JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { rootNamespaceSnapshot, type RootNamespaceSnapshot } from '../../src/devenv/netns.ts';
import type { UserAssignedIdentity } from '../../src/sim/state/model.ts';
import { discoverSigningKeys, verifiedClaims } from '../clients/harness.ts';
import { CHART_DIR } from '../support/chart.ts';
import {
  ARM_SCOPE,
  bindingManifest,
  caConfigMap,
  clientPodManifest,
  curlImds,
  eventually,
  exceptionManifest,
  execIn,
  identityManifest,
  manifestList,
  nodeTierMemory,
  podConnectionsToImds,
  startTokenLoop,
  type TokenLoopTally,
} from '../support/node-pods.ts';
import { IDENTITY_GROUP, NODE_GROUP, RELEASE, RELEASE_NAMESPACE, SIM_CA_FILE, SUBSCRIPTION, startNodeWorld, type NodeWorld } from '../support/node-world.ts';

const NODES = 2;
const APPS = 'apps';
const MIC = `${RELEASE}-mic`;
const NMI = `${RELEASE}-nmi`;

interface PodList {
  readonly items: readonly {
    readonly metadata: { readonly name: string; readonly labels?: Record<string, string>; readonly deletionTimestamp?: string };
    readonly spec: { readonly nodeName?: string; readonly hostNetwork?: boolean; readonly priorityClassName?: string; readonly serviceAccountName?: string; readonly containers: readonly Record<string, unknown>[]; readonly initContainers?: readonly Record<string, unknown>[]; readonly volumes?: readonly Record<string, unknown>[] };
    readonly status: { readonly phase?: string; readonly podIP?: string; readonly conditions?: readonly { type: string; status: string }[] };
  }[];
}

const setArgs = (values: Record<string, string>): string[] => Object.entries(values).flatMap(([key, value]) => ['--set', `${key}=${value}`]);

describe('the chart on real kubelet + containerd nodes', () => {
  let world: NodeWorld | undefined;
  let before: RootNamespaceSnapshot;
  let keys: JWTVerifyGetKey;
  let identityA: UserAssignedIdentity;
  let identityB: UserAssignedIdentity;

  const w = (): NodeWorld => {
    if (world === undefined) throw new Error('world not started');
    return world;
  };
  const pods = async (namespace: string, selector?: string): Promise<PodList> =>
    JSON.parse(await w().kubectl(['get', 'pods', '-n', namespace, ...(selector === undefined ? [] : ['-l', selector]), '-o', 'json'])) as PodList;
  const ready = (pod: PodList['items'][number]): boolean =>
    pod.metadata.deletionTimestamp === undefined && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const json = async <T>(args: string[]): Promise<T> => JSON.parse(await w().kubectl([...args, '-o', 'json'])) as T;

  /** MIC Deployment and NMI DaemonSet fully rolled out and Ready on every node; one Active MIC. */
  const waitForRollout = async (): Promise<{ leader: string }> => {
    await w().kubectl(['rollout', 'status', '-n', RELEASE_NAMESPACE, `deployment/${MIC}`, '--timeout=240s'], { timeoutMs: 250_000 });
    await w().kubectl(['rollout', 'status', '-n', RELEASE_NAMESPACE, `daemonset/${NMI}`, '--timeout=240s'], { timeoutMs: 250_000 });
    const ds = await json<{ status: { desiredNumberScheduled: number; numberReady: number; updatedNumberScheduled: number } }>(['get', 'daemonset', '-n', RELEASE_NAMESPACE, NMI]);
    expect(ds.status.desiredNumberScheduled).toBe(NODES);
    expect(ds.status.numberReady).toBe(NODES);
    return eventually('one Active MIC', async () => {
      const mics = (await pods(RELEASE_NAMESPACE, 'app.kubernetes.io/component=mic')).items.filter(ready);
      if (mics.length !== 2) return undefined;
      const health = await Promise.all(
        mics.map(async (pod) => ({ pod: pod.metadata.name, body: (await w().kubectl(['get', '--raw', `/api/v1/namespaces/${RELEASE_NAMESPACE}/pods/${pod.metadata.name}:8080/proxy/healthz`])).trim() })),
      );
      const active = health.filter((h) => h.body === 'Active');
      if (active.length !== 1 || health.some((h) => h.body !== 'Active' && h.body !== 'Not Active')) return undefined;
      return { leader: active[0]?.pod ?? '' };
    });
  };

  beforeAll(async () => {
    before = await rootNamespaceSnapshot();
    world = await startNodeWorld({ nodes: NODES });
    keys = await discoverSigningKeys(world.sim.entraUrl, world.sim.tenantId, world.sim.caPem);
    identityA = await world.admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP, name: 'app-a' });
    identityB = await world.admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP, name: 'app-b' });
  }, 600_000);

  afterAll(async () => {
    await world?.stop();
    // Nothing of the cluster is left in the root namespace: no link, no nat rule.
    expect(await rootNamespaceSnapshot()).toEqual(before);
  }, 120_000);

  it('helm install: MIC Ready with one Active leader and NMI Ready on every node, each exactly as the chart renders it', async () => {
    const values = w().chartValues();
    // A fresh node: the kernel's default. The chart's init container turns it on (docs/nmi.md, handover).
    for (const index of w().cluster.nodes.keys()) await w().cluster.execInNode(index, 'sysctl', ['-qw', 'net.ipv4.tcp_migrate_req=0']);
    await w().helm(['install', RELEASE, CHART_DIR, '-n', RELEASE_NAMESPACE, '--create-namespace', ...setArgs(values), '--wait', '--timeout', '240s']);
    const { leader } = await waitForRollout();
    const lease = await json<{ spec: { holderIdentity?: string } }>(['get', 'lease', '-n', RELEASE_NAMESPACE, 'aad-pod-identity-mic']);
    expect(lease.spec.holderIdentity).toBe(leader);

    // The running pods carry the chart's own container specs (args, env, securityContext, mounts, probes).
    const rendered = parseAllDocuments(await w().helm(['template', RELEASE, CHART_DIR, '-n', RELEASE_NAMESPACE, ...setArgs(values)]))
      .map((doc) => doc.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { template?: { spec?: Record<string, unknown> } } } | null)
      .filter((doc) => doc !== null);
    const templateOf = (kind: string, name: string): Record<string, unknown> => {
      const spec = rendered.find((doc) => doc.kind === kind && doc.metadata?.name === name)?.spec?.template?.spec;
      if (spec === undefined) throw new Error(`helm template has no ${kind} ${name}`);
      return spec;
    };
    for (const [kind, name, component] of [['Deployment', MIC, 'mic'], ['DaemonSet', NMI, 'nmi']] as const) {
      const template = templateOf(kind, name);
      const live = (await pods(RELEASE_NAMESPACE, `app.kubernetes.io/component=${component}`)).items;
      expect(live.length).toBe(component === 'mic' ? 2 : NODES);
      for (const pod of live) {
        // The ServiceAccount token volume is the API server's addition, not the chart's.
        const containers = pod.spec.containers.map((container) => ({
          ...container,
          volumeMounts: ((container['volumeMounts'] as { name: string }[] | undefined) ?? []).filter((mount) => !mount.name.startsWith('kube-api-access-')),
        }));
        expect(containers).toMatchObject(template['containers'] as object[]);
        expect(pod.spec.initContainers ?? []).toMatchObject((template['initContainers'] as object[] | undefined) ?? []);
        // The chart's volumes (hostPaths, NMI's projected federated token), not the API server's token volume.
        expect(pod.spec.volumes?.filter((v) => !String(v['name']).startsWith('kube-api-access-'))).toMatchObject((template['volumes'] as object[] | undefined) ?? []);
        expect(pod.spec.serviceAccountName).toBe(template['serviceAccountName']);
        expect(pod.spec.hostNetwork ?? false).toBe(template['hostNetwork'] ?? false);
        expect(pod.spec.priorityClassName).toBe(template['priorityClassName']);
      }
    }
    const nmiPods = (await pods(RELEASE_NAMESPACE, 'app.kubernetes.io/component=nmi')).items;
    expect(new Set(nmiPods.map((pod) => pod.spec.nodeName))).toEqual(new Set(w().nodeNames));

    // The default listener layout on each node: tokens on NODE_IP:2579, /host/token on 127.0.0.1:2579,
    // and the DNAT of pods' IMDS traffic to the node IP.
    for (const [index, node] of w().cluster.nodes.entries()) {
      const listening = (await w().cluster.execInNode(index, 'ss', ['-ltnH'])).stdout;
      expect(listening).toContain(`${node.layout.ip}:2579`);
      expect(listening).toContain('127.0.0.1:2579');
      const nat = (await w().cluster.execInNode(index, 'iptables', ['-w', '5', '-t', 'nat', '-S', 'aad-metadata'])).stdout;
      expect(nat).toContain(`--to-destination ${node.layout.ip}:2579`);
      expect((await w().cluster.execInNode(index, 'sysctl', ['-n', 'net.ipv4.tcp_migrate_req'])).stdout.trim()).toBe('1');
    }
  });

  it('user pods: curl, DefaultAzureCredential (Node) and ManagedIdentityCredential (Python) get the bound identity and use it on ARM; others are refused; an excepted pod reaches the node IMDS; MIC authenticates through NMI', async () => {
    const world_ = w();
    await world_.kubectl(['create', 'namespace', APPS]);
    await world_.kubectl(['apply', '-f', '-'], {
      input: manifestList([
        caConfigMap(APPS, world_.sim.caPem),
        identityManifest(APPS, 'app-a', identityA),
        bindingManifest(APPS, 'app-a-binding', 'app-a', 'app-a'),
        identityManifest(APPS, 'app-b', identityB),
        bindingManifest(APPS, 'app-b-binding', 'app-b', 'app-b'),
        exceptionManifest(APPS, 'node-agents', { 'app.kubernetes.io/name': 'node-agent' }),
      ]),
    });
    const node0 = world_.nodeNames[0];
    await world_.kubectl(['apply', '-f', '-'], {
      input: manifestList([
        clientPodManifest(world_, APPS, 'bound', { aadpodidbinding: 'app-a' }, node0),
        clientPodManifest(world_, APPS, 'unbound', { app: 'other' }, node0),
        clientPodManifest(world_, APPS, 'agent', { 'app.kubernetes.io/name': 'node-agent' }, node0),
      ]),
    });
    await world_.kubectl(['wait', '-n', APPS, '--for=condition=Ready', 'pod/bound', 'pod/unbound', 'pod/agent', '--timeout=120s'], { timeoutMs: 130_000 });
    await eventually('AzureAssignedIdentity of bound Assigned', async () => {
      const list = await json<{ items: { spec?: { Pod?: string; pod?: string }; status?: { status?: string } }[] }>(['get', 'azureassignedidentities', '-A']);
      return list.items.some((aai) => (aai.spec?.Pod ?? aai.spec?.pod) === 'bound' && aai.status?.status === 'Assigned') ? true : undefined;
    });

    const expectIdentity = async (token: string, identity: UserAssignedIdentity): Promise<void> => {
      const claims = await verifiedClaims(token, keys);
      expect(claims['appid']).toBe(identity.clientId);
      expect(String(claims['xms_mirid']).toLowerCase()).toBe(identity.id.toLowerCase());
    };
    const scaleSetPath = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/${world_.scaleSet.name}?api-version=2024-07-01`;
    /** The token used on the simulated ARM from inside the pod (it reaches stdin, never a command line). */
    const armStatusWith = async (token: string): Promise<number> => {
      const result = await execIn(world_, APPS, 'bound', 'curl', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', '/cloud-ca/ca.pem', '-H', '@-', `${world_.armUrlInCluster}${scaleSetPath}`], `Authorization: Bearer ${token}\n`);
      return Number(result.stdout.trim());
    };

    // Asking for another identity: NMI waits as upstream does (16 + 4 attempts, 5 s apart, in case its
    // assignment is on the way) and then refuses; asked first, judged last.
    const otherIdentity = curlImds(world_, APPS, 'bound', `&client_id=${identityB.clientId}`, 110);
    // Judged below; a failure before that must not leave it unhandled.
    otherIdentity.catch(() => undefined);

    // curl at the plain default endpoint.
    const curl = await curlImds(world_, APPS, 'bound');
    expect(curl.status, curl.body).toBe(200);
    const curlToken = (JSON.parse(curl.body) as { access_token: string }).access_token;
    await expectIdentity(curlToken, identityA);
    expect(await armStatusWith(curlToken)).toBe(200);

    // Node: DefaultAzureCredential (AZURE_CLIENT_ID names the identity, as apps set it), then @azure/arm-compute.
    const nodeApp = await execIn(world_, APPS, 'bound', 'node', [
      'env', `AZURE_CLIENT_ID=${identityA.clientId}`, 'node', '/clients/node/pod-app.ts',
      JSON.stringify({ credential: 'default', scope: ARM_SCOPE, arm: { endpoint: world_.armUrlInCluster, subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, scaleSet: world_.scaleSet.name } }),
    ]);
    const nodeResult = JSON.parse(nodeApp.stdout.trim().split('\n').at(-1) ?? '{}') as { ok?: boolean; token?: string; arm?: { ok?: boolean; name?: string } };
    expect(nodeResult.ok, `${nodeApp.stdout}${nodeApp.stderr}`).toBe(true);
    await expectIdentity(nodeResult.token ?? '', identityA);
    expect(nodeResult.arm).toMatchObject({ ok: true, name: world_.scaleSet.name });

    // Python: ManagedIdentityCredential, then the token on ARM.
    const python = await execIn(world_, APPS, 'bound', 'python', ['python3', '/clients/python/get_token.py', JSON.stringify({ scope: ARM_SCOPE, client_id: identityA.clientId })]);
    const pythonResult = JSON.parse(python.stdout.trim().split('\n').at(-1) ?? '{}') as { ok?: boolean; token?: string };
    expect(pythonResult.ok, `${python.stdout}${python.stderr}`).toBe(true);
    await expectIdentity(pythonResult.token ?? '', identityA);
    expect(await armStatusWith(pythonResult.token ?? '')).toBe(200);

    // Refusals: an unbound pod, and the bound pod asking for another pod's identity.
    const unbound = await curlImds(world_, APPS, 'unbound');
    expect(unbound.status).toBe(404);
    expect(unbound.body).not.toContain('access_token');

    // The excepted pod reaches the node's IMDS (the node's own identity), as its exception says.
    const imdsBefore = (await world_.admin.requests({ service: 'imds', limit: 1 })).lastSeq;
    const agent = await curlImds(world_, APPS, 'agent', `&client_id=${world_.kubeletIdentity.clientId}`);
    expect(agent.status, agent.body).toBe(200);
    await expectIdentity((JSON.parse(agent.body) as { access_token: string }).access_token, world_.kubeletIdentity);
    expect((await world_.admin.requests({ service: 'imds', since: imdsBefore })).entries.length).toBeGreaterThan(0);

    // MIC authenticated with the node's identity through NMI (azure.json holds no secret) and assigned
    // app-a to the scale set.
    const state = await world_.admin.getState();
    const vmss = state.scaleSets.find((s) => s.name === world_.scaleSet.name);
    expect((vmss?.identity.userAssignedIdentities ?? []).map((id) => id.toLowerCase())).toContain(identityA.id.toLowerCase());
    const other = await otherIdentity;
    expect([403, 404]).toContain(other.status);
    expect(other.body).not.toContain('access_token');
    const memory = await nodeTierMemory(world_);
    console.log(`node-tier memory: nodes=${NODES} agents(kubelet,containerd+shims,kube-proxy,forwarders,hostNetwork NMI)=${memory.agentsMb}MB pods(cgroups, NMI included)=${memory.podsMb}MB controllers(kcm,scheduler)=${memory.controllersMb}MB`);
    // No pod reached a node's IMDS directly so far (the excepted pod went through NMI's proxy).
    for (const node of world_.cluster.nodes) expect((await podConnectionsToImds(node.imdsForwarder)).fromPods).toEqual([]);
  });

  it('a pod bound to a federated identity (type 3) gets its token with curl through the chart’s NMI and its kubelet-projected token: no compute write, no IMDS request for it, no pod connection to a node IMDS', async () => {
    const world_ = w();
    const plane = world_.cluster.plane;
    const node0 = world_.nodeNames[0];
    const nmiPod = (await pods(RELEASE_NAMESPACE, 'app.kubernetes.io/component=nmi')).items.find((pod) => pod.spec.nodeName === node0);
    const nmiServiceAccount = nmiPod?.spec.serviceAccountName ?? '';
    expect(nmiServiceAccount).not.toBe('');
    const since = (await world_.admin.requests({ limit: 1 })).lastSeq;
    const forwarders = world_.cluster.nodes.map((node) => node.imdsForwarder);
    const marks = await Promise.all(forwarders.map(async (forwarder) => (await podConnectionsToImds(forwarder)).total));

    // Entra ID (the simulator, root namespace) reaches the plane's issuer at its loopback URL; it trusts the plane's CA.
    await world_.admin.setOptions({ oidcCaPems: [plane.caPem] });
    const federated = await world_.admin.seedIdentity({ subscriptionId: SUBSCRIPTION, resourceGroup: IDENTITY_GROUP, name: 'app-fed' });
    await world_.admin.seedFederatedCredential({ identityId: federated.id, name: 'pod-identity-nmi', issuer: plane.issuerUrl, subject: `system:serviceaccount:${RELEASE_NAMESPACE}:${nmiServiceAccount}` });

    // NMI calls the simulated Entra ID over TLS with a private CA: the chart's nmi.extraCAFile (the node's copy).
    await world_.helm(['upgrade', RELEASE, CHART_DIR, '-n', RELEASE_NAMESPACE, '--reuse-values', '--set', `nmi.extraCAFile=${SIM_CA_FILE}`, '--wait', '--timeout', '240s']);
    await waitForRollout();

    await world_.kubectl(['apply', '-f', '-'], {
      input: manifestList([
        { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name: 'app-fed', namespace: APPS }, spec: { type: 3, clientID: federated.clientId, tenantID: world_.sim.tenantId, resourceID: federated.id, adEndpoint: world_.entraUrlInCluster } },
        bindingManifest(APPS, 'app-fed-binding', 'app-fed', 'app-fed'),
        clientPodManifest(world_, APPS, 'fed', { aadpodidbinding: 'app-fed' }, node0),
      ]),
    });
    await world_.kubectl(['wait', '-n', APPS, '--for=condition=Ready', 'pod/fed', '--timeout=120s'], { timeoutMs: 130_000 });
    await eventually('AzureAssignedIdentity of fed Assigned', async () => {
      const list = await json<{ items: { spec?: { Pod?: string; pod?: string }; status?: { status?: string } }[] }>(['get', 'azureassignedidentities', '-A']);
      return list.items.some((aai) => (aai.spec?.Pod ?? aai.spec?.pod) === 'fed' && aai.status?.status === 'Assigned') ? true : undefined;
    });

    const answer = await curlImds(world_, APPS, 'fed', `&client_id=${federated.clientId}`);
    expect(answer.status, answer.body).toBe(200);
    const token = (JSON.parse(answer.body) as { access_token: string }).access_token;
    const claims = await verifiedClaims(token, keys);
    expect(claims['appid']).toBe(federated.clientId);
    expect(claims['oid']).toBe(federated.principalId);
    expect(String(claims['xms_mirid']).toLowerCase()).toBe(federated.id.toLowerCase());
    const implicit = await curlImds(world_, APPS, 'fed');
    expect(implicit.status, implicit.body).toBe(200);
    expect((await verifiedClaims((JSON.parse(implicit.body) as { access_token: string }).access_token, keys))['appid']).toBe(federated.clientId);
    // The token on the simulated ARM: a GET of the identity itself.
    const arm = await execIn(world_, APPS, 'fed', 'curl', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', '/cloud-ca/ca.pem', '-H', '@-', `${world_.armUrlInCluster}${federated.id}?api-version=2023-01-31`], `Authorization: Bearer ${token}\n`);
    expect(arm.stdout.trim()).toBe('200');
    // The bound pod of the type-0 identity cannot get it.
    const intruder = await curlImds(world_, APPS, 'unbound', `&client_id=${federated.clientId}`);
    expect(intruder.status).toBeGreaterThanOrEqual(400);
    expect(intruder.body).not.toContain('access_token');

    const entries = (await world_.admin.requests({ since })).entries;
    const computeWrites = entries.filter((entry) => entry.service === 'arm' && (entry.method === 'PATCH' || entry.method === 'PUT') && /microsoft\.compute\//i.test(entry.path)).length;
    const imds = entries.filter((entry) => entry.service.startsWith('imds'));
    const imdsForIt = imds.filter((entry) => Object.values(entry.query).some((value) => value === federated.clientId || value.toLowerCase() === federated.id.toLowerCase()));
    const exchanges = entries.filter((entry) => entry.service === 'entra' && entry.method === 'POST' && entry.path.endsWith('/oauth2/v2.0/token') && (entry.userAgent ?? '').includes('NMI')).length;
    const reachedImds = (await Promise.all(forwarders.map((forwarder, index) => podConnectionsToImds(forwarder, marks[index])))).flatMap((c) => c.fromPods);
    console.log(`node-tier federated: compute writes=${computeWrites} imds requests=${imds.length} (for the federated identity: ${imdsForIt.length}) NMI Entra exchanges=${exchanges} podConnectionsToNodeImds=${reachedImds.length}`);
    expect(computeWrites).toBe(0);
    expect(imdsForIt).toEqual([]);
    expect(exchanges).toBeGreaterThan(0);
    expect(reachedImds).toEqual([]);
    const vmss = (await world_.admin.getState()).scaleSets.find((s) => s.name === world_.scaleSet.name);
    expect((vmss?.identity.userAssignedIdentities ?? []).map((id) => id.toLowerCase())).not.toContain(federated.id.toLowerCase());
  });

  /**
   * Runs `change` while the bound pod asks for tokens in a loop; afterwards everything is rolled out
   * again, no pod connection reached a node's IMDS during it, and tokens flow again.
   */
  const duringTokenLoop = async (what: string, change: () => Promise<void>): Promise<TokenLoopTally> => {
    const forwarders = w().cluster.nodes.map((node) => node.imdsForwarder);
    const marks = await Promise.all(forwarders.map(async (forwarder) => (await podConnectionsToImds(forwarder)).total));
    const loop = startTokenLoop(w(), APPS, 'bound');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await change();
    await waitForRollout();
    // Tokens again for a few rounds after the roll.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const tally = await loop.stop();
    const reachedImds = (await Promise.all(forwarders.map((forwarder, index) => podConnectionsToImds(forwarder, marks[index])))).flatMap((c) => c.fromPods);
    console.log(`node-tier ${what}: attempts=${tally.attempts} tokens=${tally.tokens} refused=${tally.refused} other=${JSON.stringify(tally.otherStatus)} maxGapMs=${tally.maxGapMs} podConnectionsToNodeImds=${reachedImds.length}`);
    expect(reachedImds).toEqual([]);
    expect(tally.flowingAtEnd, JSON.stringify(tally)).toBe(true);
    // A bound pod is never told it has no identity, and never refused: the old NMI serves until the
    // new one is ready (handover, nmi.handoverTimeoutSeconds).
    expect(tally.otherStatus).toEqual({});
    expect(tally.refused, JSON.stringify(tally)).toBe(0);
    return tally;
  };

  it('helm upgrade rolls MIC and NMI: tokens keep flowing and no pod request reaches a node IMDS', async () => {
    const revision = async (kind: string, name: string): Promise<string> =>
      (await w().kubectl(['get', kind, '-n', RELEASE_NAMESPACE, name, '-o', 'jsonpath={.metadata.generation}'])).trim();
    const [micGeneration, nmiGeneration] = [await revision('deployment', MIC), await revision('daemonset', NMI)];
    await duringTokenLoop('helm-upgrade', async () => {
      await w().helm(['upgrade', RELEASE, CHART_DIR, '-n', RELEASE_NAMESPACE, '--reuse-values', '--set', 'mic.logVerbosity=2', '--set', 'nmi.logVerbosity=2', '--wait', '--timeout', '240s']);
    });
    // Both were rolled (new pod templates), and run with the new args.
    expect(await revision('deployment', MIC)).not.toBe(micGeneration);
    expect(await revision('daemonset', NMI)).not.toBe(nmiGeneration);
    for (const component of ['mic', 'nmi']) {
      for (const pod of (await pods(RELEASE_NAMESPACE, `app.kubernetes.io/component=${component}`)).items.filter(ready)) {
        expect(pod.spec.containers[0]?.['args']).toContain('--v=2');
      }
    }
  });

  it('kubectl delete pod of NMI: tokens keep flowing and no pod request reaches the node IMDS', async () => {
    const node0 = w().nodeNames[0];
    const nmi = (await pods(RELEASE_NAMESPACE, 'app.kubernetes.io/component=nmi')).items.find((pod) => pod.spec.nodeName === node0);
    expect(nmi).toBeDefined();
    await duringTokenLoop('nmi-deleted', async () => {
      await w().kubectl(['delete', 'pod', '-n', RELEASE_NAMESPACE, nmi?.metadata.name ?? '', '--wait=true'], { timeoutMs: 120_000 });
    });
  });

  it('helm uninstall: no MIC or NMI pod and no NMI rule left on any node', async () => {
    await w().helm(['uninstall', RELEASE, '-n', RELEASE_NAMESPACE, '--wait', '--timeout', '180s']);
    await eventually('release pods gone', async () => ((await pods(RELEASE_NAMESPACE)).items.length === 0 ? true : undefined));
    for (const [index] of w().cluster.nodes.entries()) {
      const rules = async (table: string): Promise<string> => (await w().cluster.execInNode(index, 'iptables', ['-w', '5', '-t', table, '-S'])).stdout;
      await eventually(`node ${index}: NMI's rules removed`, async () => {
        const all = (await rules('nat')) + (await rules('filter'));
        return /aad-metadata/.test(all) ? undefined : true;
      }, 60_000);
    }
  });
});
