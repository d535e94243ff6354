/**
 * `az login --identity` through NMI, with the real azure-cli from PyPI (version pinned in
 * test/clients/azure-cli/requirements.txt, installed by scripts/setup-azure-cli.sh) run inside pod
 * network namespaces: NMI in the node namespace intercepting 169.254.169.254 with its real iptables
 * rules, the node's simulated IMDS behind it, MIC assigning identities against the simulated ARM with
 * RBAC enforced. Each pod's az registers a private cloud whose ARM is the simulator (reached from the
 * pod at the same https://127.0.0.1:port), logs in with the pod's identity, reads a token and uses ARM;
 * an unbound pod's `az login --identity` is refused.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverSigningKeys, verifiedClaims } from '../clients/harness.ts';
import { runOk } from '../../src/devenv/exec.ts';
import { assertNetnsPrerequisites, createTopology, type NetnsTopology, type PodNamespace, rootNamespaceSnapshot } from '../../src/devenv/netns.ts';
import type { ManagedProcess } from '../../src/devenv/process.ts';
import { azSession, cloudRegisterArgs, pinnedAzureCliVersion, redactTokens, setupAzureCli, type AzSession, type SimCloud } from '../support/azure-cli.ts';
import { IDENTITY_GROUP, MicWorld, NODE_GROUP, SUBSCRIPTION } from '../support/mic-world.ts';
import { nmiAudits, relayConnections, startImdsRelay, startNodeNmi, waitForNmiServing, waitUntil } from '../support/nmi-e2e.ts';

const NS = 'e2e-az';
/** What the public cloud's az asks tokens for; the simulated ARM accepts it. */
const AUDIENCE = 'https://management.core.windows.net/';
const AZ_VERSION = pinnedAzureCliVersion();

interface Identity {
  readonly id: string;
  readonly clientId: string;
  readonly principalId: string;
}

interface Account {
  readonly id: string;
  readonly tenantId: string;
  readonly isDefault: boolean;
  readonly user: { readonly name: string; readonly type: string; readonly assignedIdentityInfo?: string };
}

/** `az account get-access-token`'s output. */
interface AccessToken {
  readonly accessToken: string;
  readonly tokenType: string;
  readonly subscription: string;
  readonly tenant: string;
}

describe('azure-cli in pod namespaces: az login --identity through NMI', () => {
  let world: MicWorld | undefined;
  let topo: NetnsTopology | undefined;
  let before: Awaited<ReturnType<typeof rootNamespaceSnapshot>> | undefined;
  let az: string;
  let caFile: string;
  let keys: JWTVerifyGetKey;
  let identity: Identity;
  let cloud: SimCloud;
  let nmi: ManagedProcess | undefined;
  let relay: ManagedProcess | undefined;
  const sessions: AzSession[] = [];

  const t = (): NetnsTopology => {
    if (topo === undefined) throw new Error('topology not created');
    return topo;
  };
  const w = (): MicWorld => {
    if (world === undefined) throw new Error('world not started');
    return world;
  };
  const n = (): ManagedProcess => {
    if (nmi === undefined) throw new Error('NMI not started');
    return nmi;
  };
  const r = (): ManagedProcess => {
    if (relay === undefined) throw new Error('IMDS relay not started');
    return relay;
  };
  /** Verified against the simulated Entra ID's keys: the pod's identity, for the cloud's ARM audience. */
  const expectClaimsOfIdentity = async (token: string): Promise<void> => {
    const claims = await verifiedClaims(token, keys);
    expect(claims['appid']).toBe(identity.clientId);
    expect(claims['oid']).toBe(identity.principalId);
    expect(String(claims['xms_mirid']).toLowerCase()).toBe(identity.id.toLowerCase());
    expect(claims['aud']).toBe(AUDIENCE);
    expect(claims['tid']).toBe(w().sim.tenantId);
  };
  const bound = (): PodNamespace => t().pods[0]!;
  const unbound = (): PodNamespace => t().pods[1]!;
  let template: AzSession | undefined;
  /** A fresh az configuration in `pod`: a copy of the template's (the simulator's cloud active, not logged in). */
  const session = async (pod: PodNamespace): Promise<AzSession> => {
    if (template === undefined) throw new Error('az template configuration not made');
    const s = await azSession(t(), pod, az, caFile, template);
    sessions.push(s);
    return s;
  };

  beforeAll(async () => {
    await assertNetnsPrerequisites();
    az = await setupAzureCli();
    before = await rootNamespaceSnapshot();

    world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0, enforceRbac: true, lroDurationMs: { vm: 100, vmss: 200 } });
    const node = world.scaleSetNodes[0] ?? '';
    caFile = path.join(world.dir, 'sim-ca.pem');
    writeFileSync(caFile, world.sim.caPem);
    keys = await discoverSigningKeys(world.sim.entraUrl, world.sim.tenantId, world.sim.caPem);
    const armUrl = new URL(world.sim.armUrl);
    cloud = { name: 'PodIdentitySim', resourceManager: `${armUrl.origin}/`, activeDirectory: new URL(world.sim.entraUrl).origin, audience: AUDIENCE };
    await world.startMic('mic-az');

    topo = await createTopology({ pods: 2 });
    const apiPort = Number(new URL(world.kc.getCurrentCluster()?.server ?? '').port);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: apiPort, target: { host: '127.0.0.1', port: apiPort } });
    const imds = new URL((await world.sim.startImds(node)).url);
    await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: Number(imds.port), target: { host: imds.hostname, port: Number(imds.port) } });
    relay = await startImdsRelay(topo, `127.0.0.1:${imds.port}`);
    // The simulated ARM at the same https://127.0.0.1:port inside both pods (the cloud's endpoint).
    for (const pod of topo.pods) {
      await topo.expose(pod.name, { listenHost: '127.0.0.1', listenPort: Number(armUrl.port), target: { host: armUrl.hostname, port: Number(armUrl.port) } });
    }

    // The bound pod's identity may read the subscription (ARM lists only subscriptions a caller holds a role in).
    await world.namespace(NS);
    identity = await world.azureIdentity('e2e-az-identity');
    await world.admin.seedRoleAssignment({ scope: `/subscriptions/${SUBSCRIPTION}`, role: 'Reader', principalId: identity.principalId });
    await world.createIdentity(NS, 'az-identity', { type: 0, resourceID: identity.id, clientID: identity.clientId });
    await world.createBinding(NS, 'az-binding', 'az-identity', 'az-app');
    await world.createPod(NS, 'az-app', node, 'az-app', { ip: bound().ip });
    await world.createPod(NS, 'az-bystander', node, undefined, { ip: unbound().ip });
    await waitUntil('MIC to assign the identity', async () => (await w().assignedFor(NS, 'az-app')).map((aai) => aai.status?.status).join() === 'Assigned', 60_000, 200);

    const dnatIp = bound().gateway;
    nmi = await startNodeNmi(topo, {
      node,
      kubeconfig: world.plane.kubeconfigPath,
      dnatIp,
      caFile,
      extraArgs: ['--retry-attempts-for-created=2', '--retry-attempts-for-assigned=2', '--find-identity-retry-interval=1'],
    });
    await waitForNmiServing(topo, nmi, dnatIp);

    // The cloud registered once (az builds its command index on first use, ~10 s); tests copy it.
    template = await azSession(topo, bound(), az, caFile);
    sessions.push(template);
    await template.azJson(cloudRegisterArgs(cloud));
    await template.azJson(['cloud', 'set', '--name', cloud.name]);
  }, 900_000);

  afterAll(async () => {
    const errors: unknown[] = [];
    for (const s of sessions) await s.close().catch((error: unknown) => errors.push(error));
    await topo?.cleanup().catch((error: unknown) => errors.push(error));
    await world?.stop().catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw new AggregateError(errors, 'azure-cli e2e cleanup failed');
  }, 60_000);

  it('az cloud register + az cloud set make the simulator the active cloud in the pod', async () => {
    const s = await session(bound());
    expect(await s.azJson(['account', 'list'])).toEqual([]);
    const shown = (await s.azJson(['cloud', 'show'])) as { name: string; isActive: boolean; endpoints: Record<string, string> };
    expect(shown).toMatchObject({ name: cloud.name, isActive: true });
    expect(shown.endpoints).toMatchObject({ resourceManager: cloud.resourceManager, activeDirectory: cloud.activeDirectory, activeDirectoryResourceId: AUDIENCE });
    const version = (await s.azJson(['version'])) as Record<string, unknown>;
    expect(version['azure-cli']).toBe(AZ_VERSION);
  });

  it('az login --identity in the bound pod logs in as its identity; get-access-token names it; az group list reads ARM', async () => {
    const s = await session(bound());
    const login = await s.az(['login', '--identity']);
    expect(login.code, redactTokens(login.stderr)).toBe(0);
    const accounts = JSON.parse(login.stdout) as Account[];
    expect(accounts).toEqual([
      expect.objectContaining({ id: SUBSCRIPTION, tenantId: w().sim.tenantId, isDefault: true, environmentName: cloud.name, user: { name: 'systemAssignedIdentity', type: 'servicePrincipal', assignedIdentityInfo: 'MSI' } }),
    ]);
    const token = (await s.azJson(['account', 'get-access-token'])) as AccessToken;
    expect(token).toMatchObject({ tokenType: 'Bearer', subscription: SUBSCRIPTION, tenant: w().sim.tenantId });
    await expectClaimsOfIdentity(token.accessToken);
    const groups = (await s.azJson(['group', 'list', '--query', '[].name'])) as string[];
    expect(groups.map((name) => name.toLowerCase()).sort()).toEqual([IDENTITY_GROUP, NODE_GROUP].map((name) => name.toLowerCase()).sort());
    console.log(`azure-cli e2e: az ${AZ_VERSION} login --identity in ${String(login.ms)} ms`);
    const issued = (await nmiAudits(n())).filter((audit) => audit['pod'] === 'az-app' && audit['decision'] === 'issued');
    expect(issued.length).toBeGreaterThanOrEqual(2); // login and get-access-token, each its own process
    for (const audit of issued) expect(audit).toMatchObject({ namespace: NS, resource: AUDIENCE, status: 200, identity: `${NS}/az-identity` });
    expect(await readFile(n().logPath, 'utf8')).not.toContain(token.accessToken);
  });

  it('az login --identity --client-id / --object-id / --resource-id (user-assigned) in the bound pod', async () => {
    for (const [flag, value, info] of [
      ['--client-id', identity.clientId, `MSIClient-${identity.clientId}`],
      ['--object-id', identity.principalId, `MSIObject-${identity.principalId}`],
      ['--resource-id', identity.id, `MSIResource-${identity.id}`],
    ] as const) {
      const s = await session(bound());
      const accounts = (await s.azJson(['login', '--identity', flag, value])) as Account[];
      expect(accounts.map((account) => [account.id, account.user.name, account.user.assignedIdentityInfo])).toEqual([[SUBSCRIPTION, 'userAssignedIdentity', info]]);
      const token = (await s.azJson(['account', 'get-access-token'])) as AccessToken;
      await expectClaimsOfIdentity(token.accessToken);
    }
    // The older spelling, `--username <client id>`, is refused by az itself in this version.
    const legacy = await (await session(bound())).az(['login', '--identity', '--username', identity.clientId]);
    expect(legacy.code).not.toBe(0);
    expect(legacy.stderr).toContain('Passing the managed identity ID with --username is no longer supported. Use --client-id, --object-id or --resource-id instead.');
  });

  it('az login --identity in a pod without a binding is refused by NMI, and nothing reaches the node IMDS', async () => {
    const s = await session(unbound());
    const attempts: [string, string[]][] = [
      ['no identity named', ['login', '--identity']],
      ['the bound pod’s client ID', ['login', '--identity', '--client-id', identity.clientId]],
    ];
    for (const [what, args] of attempts) {
      const refused = await s.az(args);
      console.log(`azure-cli e2e: unbound pod, az ${args.join(' ')} (${what}) → exit ${String(refused.code)} in ${String(refused.ms)} ms:\n${redactTokens(refused.stderr.trim())}`);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('ERROR: pod e2e-az/az-bystander has no aadpodidbinding label, so no AzureIdentityBinding selects it and no identity is assigned to it');
      expect(`${refused.stdout}${refused.stderr}`).not.toContain('eyJ');
    }
    // Logged in nowhere; az has no account to hand out tokens for.
    expect(await s.azJson(['account', 'list'])).toEqual([]);
    const noToken = await s.az(['account', 'get-access-token']);
    expect(noToken.code).not.toBe(0);
    expect(noToken.stdout).not.toContain('eyJ');
    const refusals = (await nmiAudits(n())).filter((audit) => audit['pod'] === 'az-bystander');
    expect(refusals.map((audit) => [audit['decision'], audit['status']])).toEqual([['refused', 404], ['refused', 404]]);
    expect((await relayConnections(r())).filter((address) => t().pods.some((pod) => pod.ip === address))).toEqual([]);
  });

  it('cleans up: az config dirs, namespaces and processes gone, root namespace unchanged', async () => {
    const dirs = sessions.map((s) => s.configDir);
    for (const s of sessions.splice(0)) await s.close();
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
    const runId = t().runId;
    await t().cleanup();
    expect(await runOk('ip', ['netns', 'list'])).not.toContain(runId);
    expect(await rootNamespaceSnapshot()).toEqual(before);
  });
});
