/**
 * Federated identities (AzureIdentity type 3) end to end in network namespaces, as test/e2e/nmi.test.ts
 * for type 0: a real control plane (the service-account issuer, discovery readable anonymously), the
 * Azure simulator (Entra ID fetches the issuer's discovery and keys over HTTPS trusting the plane's CA)
 * and MIC in the root namespace; NMI inside the node namespace with its real iptables rules and a
 * `--federated-token-file` holding a TokenRequest token of its service account; unmodified clients in
 * pod namespaces at the plain default endpoint.
 *
 * Shows: curl, @azure/identity DefaultAzureCredential and ManagedIdentityCredential, and Python
 * azure-identity ManagedIdentityCredential get tokens whose verified claims name the federated identity
 * and that the simulated ARM accepts; MIC writes nothing to the node's scale set (0 compute writes), the
 * node's IMDS is never asked (simulator request log) and no pod connection reaches 169.254.169.254
 * (relay); another pod cannot get the identity by any selector.
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEDERATED_TOKEN_AUDIENCE } from '../../src/api/index.ts';
import { assertNetnsPrerequisites, createTopology, IMDS_IP, rootNamespaceSnapshot, type NetnsTopology, type PodNamespace } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { rawRequest } from '../../src/kube/raw-client.ts';
import { discoverSigningKeys } from '../clients/harness.ts';
import { armRequests, countArm, lastRequestSeq, MicWorld, NODE_GROUP, SUBSCRIPTION } from '../support/mic-world.ts';
import {
  ARM_RESOURCE,
  ARM_SCOPE,
  armScenario,
  curlArmGet,
  curlJson,
  curlToken,
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
  type PodAppScenario,
  type TestIdentity,
} from '../support/nmi-e2e.ts';

const NS = 'e2e-fed';
const NMI_NAMESPACE = 'e2e-fed-nmi';
const NMI_SERVICE_ACCOUNT = 'pod-identity-nmi';

type Identity = TestIdentity;

describe('federated identity (type 3): NMI in a node network namespace, real clients in pod namespaces', () => {
  let world: MicWorld | undefined;
  let topo: NetnsTopology | undefined;
  let before: Awaited<ReturnType<typeof rootNamespaceSnapshot>> | undefined;
  let node: string;
  let caFile: string;
  let python: string;
  let keys: JWTVerifyGetKey;
  let identity: Identity;
  let nmi: ManagedProcess;
  let relay: ManagedProcess;
  let armUrl: URL;
  /** Request-log mark taken before the identity existed: everything it caused comes after. */
  let since: number;
  let identityUrl: string;
  let nmiToken: string;

  const t = (): NetnsTopology => {
    if (topo === undefined) throw new Error('topology not created');
    return topo;
  };
  const w = (): MicWorld => {
    if (world === undefined) throw new Error('world not started');
    return world;
  };
  const pod = (i: number): PodNamespace => t().pods[i]!;
  const expectClaimsOf = (token: string): Promise<void> => expectArmTokenOf(token, keys, identity, w().sim.tenantId);
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
    // Entra ID (the simulator, root namespace) fetches the plane's discovery over TLS: trust its CA.
    await world.admin.setOptions({ oidcCaPems: [world.plane.caPem] });
    await world.startMic('mic-e2e-fed');

    topo = await createTopology({ pods: 2 });
    // The node reaches the API server, Entra ID (for the exchange) and its IMDS (through the logging
    // relay on 169.254.169.254:80) at their root-namespace loopback addresses.
    const apiPort = Number(new URL(world.kc.getCurrentCluster()?.server ?? '').port);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: apiPort, target: { host: '127.0.0.1', port: apiPort } });
    const entra = new URL(world.sim.entraUrl);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: Number(entra.port), target: { host: entra.hostname, port: Number(entra.port) } });
    const imds = new URL((await world.sim.startImds(node)).url);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: Number(imds.port), target: { host: imds.hostname, port: Number(imds.port) } });
    relay = await startImdsRelay(topo, `127.0.0.1:${imds.port}`);
    await topo.expose(pod(0).name, { listenHost: '127.0.0.1', listenPort: Number(armUrl.port), target: { host: armUrl.hostname, port: Number(armUrl.port) } });

    // NMI's projected token, as the kubelet would write it: a TokenRequest of NMI's service account.
    await world.namespace(NMI_NAMESPACE);
    await rawRequest(world.kc, { method: 'POST', path: `/api/v1/namespaces/${NMI_NAMESPACE}/serviceaccounts`, body: { metadata: { name: NMI_SERVICE_ACCOUNT } } });
    const answer = (await rawRequest(world.kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${NMI_NAMESPACE}/serviceaccounts/${NMI_SERVICE_ACCOUNT}/token`,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [FEDERATED_TOKEN_AUDIENCE], expirationSeconds: 3600 } },
    })) as { status: { token: string } };
    nmiToken = answer.status.token;
    const tokenFile = path.join(world.dir, 'federated-token');
    writeFileSync(tokenFile, nmiToken);

    // The federated identity: a user-assigned identity whose credential trusts NMI's service account.
    since = await lastRequestSeq(world);
    identity = await world.azureIdentity('e2e-federated');
    identityUrl = `${armUrl.origin}${identity.id}?api-version=2023-01-31`;
    await world.admin.seedFederatedCredential({ identityId: identity.id, name: 'pod-identity-nmi', issuer: world.plane.issuerUrl, subject: `system:serviceaccount:${NMI_NAMESPACE}:${NMI_SERVICE_ACCOUNT}` });
    await world.namespace(NS);
    await world.createIdentity(NS, 'federated', { type: 3, clientID: identity.clientId, tenantID: world.sim.tenantId, resourceID: identity.id, adEndpoint: world.sim.entraUrl });
    await world.createBinding(NS, 'federated-binding', 'federated', 'select-fed');
    await world.createPod(NS, 'app-fed', node, 'select-fed', { ip: pod(0).ip });
    await world.createPod(NS, 'bystander', node, undefined, { ip: pod(1).ip });
    const assignedMs = await waitUntil('MIC to assign the federated identity', async () => (await w().assignedFor(NS, 'app-fed')).map((aai) => aai.status?.status).join() === 'Assigned', 60_000, 100);
    console.log(`federated e2e: AzureAssignedIdentity Assigned ${String(assignedMs)} ms after the pod was created`);

    nmi = await startNodeNmi(topo, {
      node,
      kubeconfig: world.plane.kubeconfigPath,
      dnatIp: pod(0).gateway,
      caFile,
      extraArgs: [`--federated-token-file=${tokenFile}`, '--retry-attempts-for-created=2', '--retry-attempts-for-assigned=2', '--find-identity-retry-interval=1'],
    });
    await waitForNmiServing(topo, nmi, pod(0).gateway);
  }, 300_000);

  afterAll(async () => {
    if (process.env['NMI_TEST_LOGS'] === '1' && (nmi as ManagedProcess | undefined) !== undefined) console.log(await nmi.tail(200));
    const errors: unknown[] = [];
    await topo?.cleanup().catch((error: unknown) => errors.push(error));
    await world?.stop().catch((error: unknown) => errors.push(error));
    if (before !== undefined) expect(await rootNamespaceSnapshot()).toEqual(before);
    if (errors.length > 0) throw new AggregateError(errors, 'e2e cleanup failed');
  }, 60_000);

  it('curl in the pod gets the federated identity’s token (by client ID, resource ID and implicitly) and reads the identity from ARM with it', async () => {
    const response = await curlToken(t(), pod(0), { resource: ARM_RESOURCE, client_id: identity.clientId });
    expect(response.status, response.body).toBe(200);
    const body = curlJson(response);
    expect(body).toMatchObject({ client_id: identity.clientId, token_type: 'Bearer', resource: ARM_RESOURCE });
    const token = String(body['access_token']);
    await expectClaimsOf(token);
    const arm = await curlArmGet(t(), pod(0), identityUrl, caFile, token);
    expect(arm.status, arm.body).toBe(200);
    expect(curlJson(arm)).toMatchObject({ properties: { clientId: identity.clientId } });
    for (const selector of [{ msi_res_id: identity.id }, {}] as Record<string, string>[]) {
      const other = await curlToken(t(), pod(0), { resource: ARM_RESOURCE, ...selector });
      expect(other.status, other.body).toBe(200);
      await expectClaimsOf(String(curlJson(other)['access_token']));
    }
    const audits = (await nmiAudits(nmi)).filter((audit) => audit['pod'] === 'app-fed');
    expect(audits.map((audit) => [audit['identityType'], audit['decision']])).toEqual([[3, 'issued'], [3, 'issued'], [3, 'issued']]);
  });

  it('@azure/identity ManagedIdentityCredential (client ID) in the pod, then @azure/arm-compute', async () => {
    const result = await runPodApp(t(), pod(0), scenario('managed-identity', identity.clientId), { NODE_EXTRA_CA_CERTS: caFile });
    expect(result.ok, result.message).toBe(true);
    await expectClaimsOf(result.token ?? '');
    expect(result.arm).toMatchObject({ ok: true, name: w().scaleSet.name });
  });

  it('@azure/identity DefaultAzureCredential (AZURE_CLIENT_ID) in the pod, then @azure/arm-compute', async () => {
    const result = await runPodApp(t(), pod(0), scenario('default'), { NODE_EXTRA_CA_CERTS: caFile, AZURE_CLIENT_ID: identity.clientId });
    expect(result.ok, result.message).toBe(true);
    await expectClaimsOf(result.token ?? '');
    expect(result.arm).toMatchObject({ ok: true, name: w().scaleSet.name });
  });

  it('Python azure-identity ManagedIdentityCredential in the pod gets it, usable on ARM', async () => {
    const result = await runPythonInPod(t(), pod(0), python, { client_id: identity.clientId, scope: ARM_SCOPE });
    if (!result.ok) throw new Error(`python client failed: ${result.errorName}: ${result.message}`);
    await expectClaimsOf(result.token);
    const arm = await curlArmGet(t(), pod(0), identityUrl, caFile, result.token);
    expect(arm.status, arm.body).toBe(200);
  });

  it('another pod cannot get the federated identity by any selector', async () => {
    const outcomes: string[] = [];
    for (const selector of [{ client_id: identity.clientId }, { msi_res_id: identity.id }, { mi_res_id: identity.id }, { object_id: identity.principalId }, {}] as Record<string, string>[]) {
      const response = await curlToken(t(), pod(1), { resource: ARM_RESOURCE, ...selector });
      expect(response.exit, response.stderr).toBe(0);
      outcomes.push(`${JSON.stringify(selector)} → ${String(response.status)}`);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(curlJson(response)).not.toHaveProperty('access_token');
      expect(response.body).not.toContain('eyJ');
    }
    console.log(`federated e2e: bystander refusals: ${outcomes.join('; ')}`);
  });

  it('no compute write, no IMDS request, no pod connection to 169.254.169.254; NMI’s service-account token stays out of its log', async () => {
    const arm = countArm(await armRequests(w(), since));
    const imds = (await w().admin.requests({ service: 'imds', since })).entries;
    const exchanges = (await w().admin.requests({ service: 'entra', method: 'POST', since })).entries.filter((entry) => entry.path.endsWith('/oauth2/v2.0/token') && (entry.userAgent ?? '').includes('NMI'));
    const podConnections = (await relayConnections(relay)).filter((address) => t().pods.some((p) => p.ip === address));
    console.log(
      `federated e2e: since the identity was created: compute writes=${String(arm.writes)} compute reads=${String(arm.reads)} (the SDK clients' own scale-set GETs) ` +
        `imds requests=${String(imds.length)} NMI Entra exchanges=${String(exchanges.length)} pod connections to ${IMDS_IP}=${String(podConnections.length)}`,
    );
    expect(arm.writes).toBe(0);
    expect(w().scaleSetIdentities()).toEqual([]);
    expect(imds).toEqual([]);
    expect(exchanges.length).toBeGreaterThan(0);
    expect(podConnections).toEqual([]);
    const log = await readFile(nmi.logPath, 'utf8');
    expect(log).not.toContain(nmiToken);
  });
});
