/**
 * NMI end to end in network namespaces: a real control plane, the Azure simulator and MIC (MicWorld) in
 * the root namespace on loopback; NMI inside the node namespace with its real iptables rules; the node's
 * simulated IMDS on 169.254.169.254:80 inside the node namespace (through a relay that logs who
 * connected); unmodified clients inside pod namespaces using the plain default endpoint. Shows:
 * curl, @azure/identity (ManagedIdentityCredential, DefaultAzureCredential) and Python azure-identity get
 * tokens whose verified claims name the pod's identity and use them against the simulated ARM; other
 * pods on the node cannot get that identity; a rule deleted by hand is back within 5 s; and with NMI
 * killed and while it restarts, no pod request reaches the node's IMDS (simulator request log + relay).
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedChainRules, type IptablesConfig } from '../../src/nmi/node/iptables/rules.ts';
import { discoverSigningKeys } from '../clients/harness.ts';
import { runOk } from '../../src/devenv/exec.ts';
import { assertNetnsPrerequisites, createTopology, IMDS_IP, waitForLogLine, type NetnsTopology, type PodNamespace, rootNamespaceSnapshot } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { MicWorld, NODE_GROUP, SUBSCRIPTION } from '../support/mic-world.ts';
import {
  ARM_RESOURCE,
  ARM_SCOPE,
  armScenario,
  curlArmGet,
  curlJson,
  curlToken,
  interceptionInstalled,
  interceptionState,
  NMI_PORT,
  nmiAudits,
  relayConnections,
  runPodApp,
  runPythonInPod,
  startImdsRelay,
  startNodeNmi,
  waitForNmiServing,
  expectArmTokenOf,
  pythonClients,
  waitUntil,
  type NodeNmiOptions,
  type PodAppScenario,
  type TestIdentity,
} from '../support/nmi-e2e.ts';

const NS = 'e2e-apps';

type Identity = TestIdentity;

describe('NMI in a node network namespace with real iptables, clients in pod namespaces', () => {
  let world: MicWorld | undefined;
  let topo: NetnsTopology | undefined;
  let before: Awaited<ReturnType<typeof rootNamespaceSnapshot>> | undefined;
  let node: string;
  let caFile: string;
  let python: string;
  let keys: JWTVerifyGetKey;
  let identityA: Identity;
  let identityB: Identity;
  let config: IptablesConfig;
  let nmiOptions: NodeNmiOptions;
  let nmi: ManagedProcess;
  let relay: ManagedProcess;
  let armUrl: URL;
  let scaleSetUrl: string;

  const t = (): NetnsTopology => {
    if (topo === undefined) throw new Error('topology not created');
    return topo;
  };
  const w = (): MicWorld => {
    if (world === undefined) throw new Error('world not started');
    return world;
  };
  const pod = (i: number): PodNamespace => t().pods[i]!;
  const imdsSeq = async (): Promise<number> => (await w().admin.requests({ service: 'imds', limit: 1 })).lastSeq;
  const imdsSince = async (seq: number) => (await w().admin.requests({ service: 'imds', since: seq })).entries;
  const podIps = (): string[] => t().pods.map((p) => p.ip);
  const expectClaimsOf = (token: string, identity: Identity): Promise<void> => expectArmTokenOf(token, keys, identity, w().sim.tenantId);
  const scenario = (credential: PodAppScenario['credential'], clientId?: string): PodAppScenario =>
    armScenario(credential, { endpoint: armUrl.origin, subscriptionId: SUBSCRIPTION, resourceGroup: NODE_GROUP, scaleSet: w().scaleSet.name }, clientId);

  beforeAll(async () => {
    await assertNetnsPrerequisites();
    python = await pythonClients();
    before = await rootNamespaceSnapshot();

    world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0, lroDurationMs: { vm: 100, vmss: 200 } });
    node = world.scaleSetNodes[0] ?? '';
    caFile = path.join(world.dir, 'sim-ca.pem');
    writeFileSync(caFile, world.sim.caPem);
    keys = await discoverSigningKeys(world.sim.entraUrl, world.sim.tenantId, world.sim.caPem);
    armUrl = new URL(world.sim.armUrl);
    scaleSetUrl = `${armUrl.origin}${world.scaleSet.id}?api-version=2024-07-01`;
    await world.startMic('mic-e2e');

    topo = await createTopology({ pods: 3 });
    // The node reaches the API server at the kubeconfig's own 127.0.0.1:port, and its IMDS (the
    // simulator's listener for this node) on 169.254.169.254:80 through the logging relay.
    const apiServer = new URL(world.kc.getCurrentCluster()?.server ?? '');
    const apiPort = Number(apiServer.port);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: apiPort, target: { host: '127.0.0.1', port: apiPort } });
    const imds = new URL((await world.sim.startImds(node)).url);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: Number(imds.port), target: { host: imds.hostname, port: Number(imds.port) } });
    relay = await startImdsRelay(topo, `127.0.0.1:${imds.port}`);
    // The simulated ARM at the same https://127.0.0.1:port inside the pods that use their tokens.
    for (const p of [pod(0), pod(1)]) {
      await topo.expose(p.name, { listenHost: '127.0.0.1', listenPort: Number(armUrl.port), target: { host: armUrl.hostname, port: Number(armUrl.port) } });
    }

    // pod0 → identity A, pod1 → identity B, pod2 → no binding at all.
    await world.namespace(NS);
    identityA = await world.azureIdentity('e2e-identity-a');
    identityB = await world.azureIdentity('e2e-identity-b');
    for (const [name, identity] of [['a', identityA], ['b', identityB]] as const) {
      await world.createIdentity(NS, `identity-${name}`, { type: 0, resourceID: identity.id, clientID: identity.clientId });
      await world.createBinding(NS, `binding-${name}`, `identity-${name}`, `select-${name}`);
    }
    await world.createPod(NS, 'app-a', node, 'select-a', { ip: pod(0).ip });
    await world.createPod(NS, 'app-b', node, 'select-b', { ip: pod(1).ip });
    await world.createPod(NS, 'bystander', node, undefined, { ip: pod(2).ip });
    await waitUntil(
      'MIC to assign both identities',
      async () => {
        const statuses = await Promise.all(['app-a', 'app-b'].map(async (name) => (await w().assignedFor(NS, name)).map((aai) => aai.status?.status)));
        return statuses.every((list) => list.join() === 'Assigned');
      },
      60_000,
      200,
    );

    config = { chain: 'aad-metadata', metadataIp: IMDS_IP, metadataPort: 80, targetIp: pod(0).gateway, targetPort: NMI_PORT, guardChain: 'aad-metadata-guard' };
    nmiOptions = {
      node,
      kubeconfig: world.plane.kubeconfigPath,
      dnatIp: config.targetIp,
      caFile,
      extraArgs: ['--retry-attempts-for-created=2', '--retry-attempts-for-assigned=2', '--find-identity-retry-interval=1'],
    };
  }, 300_000);

  afterAll(async () => {
    if (process.env['NMI_TEST_LOGS'] === '1' && (nmi as ManagedProcess | undefined) !== undefined) console.log(await nmi.tail(200));
    const errors: unknown[] = [];
    await topo?.cleanup().catch((error: unknown) => errors.push(error));
    await world?.stop().catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw new AggregateError(errors, 'e2e cleanup failed');
  }, 60_000);

  it('without NMI a pod reaches the node IMDS directly (the exposure NMI closes; the relay sees it)', async () => {
    const seq = await imdsSeq();
    const direct = await curlToken(t(), pod(2), { resource: ARM_RESOURCE });
    expect(direct.exit, direct.stderr).toBe(0);
    expect(direct.status).toBeGreaterThanOrEqual(200);
    expect(await relayConnections(relay)).toEqual([pod(2).ip]);
    expect((await imdsSince(seq)).length).toBe(1);
  });

  it('NMI installs the upstream rules in the node namespace and becomes Active', async () => {
    nmi = await startNodeNmi(t(), nmiOptions);
    const readyMs = await waitForNmiServing(t(), nmi, config.targetIp);
    console.log(`nmi e2e: NMI active and serving ${String(readyMs)} ms after start`);
    const state = await interceptionState(t(), config);
    expect(state.chain).toBe(
      '-N aad-metadata\n' +
        `-A aad-metadata ! -s 127.0.0.1/32 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination ${pod(0).gateway}:2579\n` +
        '-A aad-metadata -j RETURN\n',
    );
    expect(state.chain).toBe(expectedChainRules(config).join('\n') + '\n');
    expect(state.jumps).toEqual([1]);
    await waitForLogLine(nmi, (line) => line.includes('iptables redirection installed'));
  });

  it('curl in the pod gets a token naming its identity and reads the scale set from ARM with it', async () => {
    const response = await curlToken(t(), pod(0), { resource: ARM_RESOURCE, client_id: identityA.clientId });
    expect(response.status, response.body).toBe(200);
    const body = curlJson(response);
    expect(body).toMatchObject({ client_id: identityA.clientId, token_type: 'Bearer', resource: ARM_RESOURCE });
    await expectClaimsOf(String(body['access_token']), identityA);
    const arm = await curlArmGet(t(), pod(0), scaleSetUrl, caFile, String(body['access_token']));
    expect(arm.status, arm.body).toBe(200);
    expect(curlJson(arm)).toMatchObject({ name: w().scaleSet.name });
    // Without naming it: the pod's only identity.
    const implicit = await curlToken(t(), pod(0), { resource: ARM_RESOURCE });
    expect(implicit.status, implicit.body).toBe(200);
    await expectClaimsOf(String(curlJson(implicit)['access_token']), identityA);
    // NMI told the pod apart by its own address, kept through the DNAT.
    expect(await nmiAudits(nmi)).toEqual(expect.arrayContaining([expect.objectContaining({ namespace: NS, pod: 'app-a', decision: 'issued', status: 200 })]));
    expect(await readFile(nmi.logPath, 'utf8')).not.toContain(String(body['access_token']));
  });

  it('@azure/identity ManagedIdentityCredential (client ID) in the pod, then @azure/arm-compute', async () => {
    const result = await runPodApp(t(), pod(0), scenario('managed-identity', identityA.clientId), { NODE_EXTRA_CA_CERTS: caFile });
    expect(result.ok, result.message).toBe(true);
    await expectClaimsOf(result.token ?? '', identityA);
    expect(result.arm).toMatchObject({ ok: true, name: w().scaleSet.name });
  });

  it('@azure/identity DefaultAzureCredential (AZURE_CLIENT_ID) in the pod, then @azure/arm-compute', async () => {
    const result = await runPodApp(t(), pod(0), scenario('default'), { NODE_EXTRA_CA_CERTS: caFile, AZURE_CLIENT_ID: identityA.clientId });
    expect(result.ok, result.message).toBe(true);
    await expectClaimsOf(result.token ?? '', identityA);
    expect(result.arm).toMatchObject({ ok: true, name: w().scaleSet.name });
  });

  it('Python azure-identity ManagedIdentityCredential in another pod gets that pod’s identity, usable on ARM', async () => {
    const result = await runPythonInPod(t(), pod(1), python, { client_id: identityB.clientId, scope: ARM_SCOPE });
    if (!result.ok) throw new Error(`python client failed: ${result.errorName}: ${result.message}`);
    await expectClaimsOf(result.token, identityB);
    const arm = await curlArmGet(t(), pod(1), scaleSetUrl, caFile, result.token);
    expect(arm.status, arm.body).toBe(200);
  });

  it('other pods on the node cannot get the first pod’s identity', async () => {
    const attempts: [PodNamespace, Record<string, string>][] = [
      [pod(1), { client_id: identityA.clientId }],
      [pod(1), { msi_res_id: identityA.id }],
      [pod(1), { object_id: identityA.principalId }],
      [pod(2), { client_id: identityA.clientId }],
      [pod(2), { msi_res_id: identityA.id }],
      [pod(2), {}],
    ];
    const outcomes: string[] = [];
    for (const [from, selector] of attempts) {
      const response = await curlToken(t(), from, { resource: ARM_RESOURCE, ...selector });
      expect(response.exit, response.stderr).toBe(0);
      outcomes.push(`${from.name.slice(-4)} ${JSON.stringify(selector)} → ${String(response.status)}`);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(curlJson(response)).not.toHaveProperty('access_token');
      expect(response.body).not.toContain('eyJ');
    }
    console.log(`nmi e2e: refusals: ${outcomes.join('; ')}`);
    const refusedAudits = (await nmiAudits(nmi)).filter((audit) => audit['decision'] !== 'issued');
    expect(refusedAudits.filter((audit) => audit['pod'] === 'app-b').length).toBe(3);
    expect(refusedAudits.filter((audit) => audit['pod'] === 'bystander').length).toBe(3);
    // Each pod still gets its own.
    const own = await curlToken(t(), pod(1), { resource: ARM_RESOURCE });
    expect(own.status, own.body).toBe(200);
    await expectClaimsOf(String(curlJson(own)['access_token']), identityB);
  });

  it('restores a flushed chain and a deleted jump within 5 s', async () => {
    const tamperings: [string, string[]][] = [
      ['chain flushed (iptables -t nat -F aad-metadata)', ['-t', 'nat', '-F', 'aad-metadata']],
      ['jump deleted (iptables -t nat -D PREROUTING -j aad-metadata)', ['-t', 'nat', '-D', 'PREROUTING', '-j', 'aad-metadata']],
    ];
    for (const [what, command] of tamperings) {
      await t().execOk(t().node, 'iptables', ['-w', '5', ...command]);
      const tamperedAt = performance.now();
      expect(await interceptionInstalled(t(), config)).toBe(false);
      await waitUntil(`restore after ${what}`, () => interceptionInstalled(t(), config), 10_000, 50);
      const restoreMs = Math.round(performance.now() - tamperedAt);
      console.log(`nmi e2e: ${what}: restored in ${String(restoreMs)} ms (--ipt-update-interval-sec=2)`);
      expect(restoreMs).toBeLessThan(5_000);
    }
    await waitForLogLine(nmi, (line) => line.includes('iptables drift restored'));
    const again = await curlToken(t(), pod(0), { resource: ARM_RESOURCE, client_id: identityA.clientId });
    expect(again.status, again.body).toBe(200);
    expect(await relayConnections(relay)).toEqual(expect.not.arrayContaining([pod(0).ip, pod(1).ip]));
  });

  it('the guard: with NMI stopped and its redirect deleted by someone else, pods are reset, never reach IMDS', async () => {
    const seqBefore = await imdsSeq();
    const relayBefore = (await relayConnections(relay)).length;
    await nmi.stop(10_000);
    expect(await interceptionInstalled(t(), config)).toBe(true);
    await t().execOk(t().node, 'iptables', ['-w', '5', '-t', 'nat', '-D', 'PREROUTING', '-j', 'aad-metadata']);
    for (const p of t().pods) {
      const response = await curlToken(t(), p, { resource: ARM_RESOURCE }, ['--max-time', '5']);
      expect(response.exit, `${p.name}: ${response.stderr} ${response.body}`).toBe(7);
    }
    expect(await imdsSince(seqBefore)).toEqual([]);
    expect((await relayConnections(relay)).slice(relayBefore)).toEqual([]);
    nmi = await startNodeNmi(t(), nmiOptions);
    await waitForNmiServing(t(), nmi, config.targetIp);
    expect(await interceptionInstalled(t(), config)).toBe(true);
  });

  it('with NMI killed and while it restarts, not one pod request reaches the node IMDS', async () => {
    const seqBefore = await imdsSeq();
    const relayBefore = (await relayConnections(relay)).length;
    nmi.killSync();
    expect((await nmi.exited).signal).toBe('SIGKILL');
    expect(await interceptionInstalled(t(), config)).toBe(true);

    // NMI down: every pod's request is refused at the DNAT target.
    for (let round = 0; round < 3; round++) {
      for (const p of t().pods) {
        const response = await curlToken(t(), p, { resource: ARM_RESOURCE });
        expect(response.exit, `${p.name}: ${response.stderr} ${response.body}`).toBe(7);
        expect(response.stderr).toMatch(/refused|Couldn't connect/i);
      }
    }
    expect(await imdsSince(seqBefore)).toEqual([]);
    expect((await relayConnections(relay)).slice(relayBefore)).toEqual([]);

    // Restart: pods keep asking (bounded) until NMI answers again.
    const restartedAt = Date.now();
    nmi = await startNodeNmi(t(), nmiOptions);
    const outcomes: { pod: string; exit: number; status: number }[] = [];
    let served = false;
    for (let attempt = 0; attempt < 400 && Date.now() - restartedAt < 45_000 && !served; attempt++) {
      const from = t().pods[attempt % t().pods.length]!;
      const selector: Record<string, string> = from === pod(0) ? { client_id: identityA.clientId } : from === pod(1) ? { client_id: identityB.clientId } : {};
      const response = await curlToken(t(), from, { resource: ARM_RESOURCE, ...selector }, ['--max-time', '10']);
      outcomes.push({ pod: from.name.slice(-4), exit: response.exit, status: response.status });
      if (from === pod(0) && response.status === 200) {
        await expectClaimsOf(String(curlJson(response)['access_token']), identityA);
        served = true;
      }
      if (nmi.exit() !== undefined) throw new Error(`NMI exited during restart:\n${await nmi.tail()}`);
    }
    const refused = outcomes.filter((outcome) => outcome.exit === 7).length;
    console.log(
      `nmi e2e: restart: ${String(outcomes.length)} pod requests in ${String(Date.now() - restartedAt)} ms, ` +
        `${String(refused)} refused, then served by NMI: ${JSON.stringify(outcomes.filter((outcome) => outcome.exit !== 7))}`,
    );
    expect(served).toBe(true);
    // Before NMI serves, only "connection refused"; every answer afterwards came from NMI.
    expect(outcomes.every((outcome) => outcome.exit === 7 || outcome.exit === 0)).toBe(true);
    const firstAnswer = outcomes.findIndex((outcome) => outcome.exit === 0);
    expect(outcomes.slice(0, firstAnswer).every((outcome) => outcome.exit === 7)).toBe(true);

    // What IMDS saw since the kill: only NMI's own upstream calls (from the node's address, never a pod's),
    // all after the restart, and no more than the tokens NMI had to fetch.
    const newConnections = (await relayConnections(relay)).slice(relayBefore);
    expect(newConnections.filter((address) => podIps().includes(address))).toEqual([]);
    const entries = await imdsSince(seqBefore);
    expect(entries.length).toBeGreaterThan(0); // NMI's own fetch for the first token after restart
    for (const entry of entries) expect(Date.parse(entry.time)).toBeGreaterThanOrEqual(restartedAt - 1_000);
    expect(entries.length).toBeLessThanOrEqual(outcomes.filter((outcome) => outcome.status === 200).length);
    await waitForNmiServing(t(), nmi, config.targetIp);
    await waitForLogLine(nmi, (line) => line.includes('iptables redirection already in place'));
  });

  it('only the pod request made before NMI ever reached IMDS, and the root namespace is unchanged', async () => {
    expect((await relayConnections(relay)).filter((address) => podIps().includes(address))).toEqual([pod(2).ip]);
    const runId = t().runId;
    await t().cleanup();
    expect(await runOk('ip', ['netns', 'list'])).not.toContain(runId);
    expect(await rootNamespaceSnapshot()).toEqual(before);
  });
});
