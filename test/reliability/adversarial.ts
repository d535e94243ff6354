/**
 * Adversarial pods (issue 8; TARGETS.md "attempts by one pod to get another pod's token: 0
 * successes"). Two nodes (network namespaces, NMI with real iptables each, node 2 in namespaced mode),
 * a real API server, the Azure simulator and MIC. Pods ask for other pods' identities by every
 * selector, spoof headers, call /host/token, twist paths, queries and methods, spoof source
 * addresses, dial the other node's NMI, label themselves into another namespace's binding, reuse a
 * deleted pod's IP or name, and run on the host network. attempts = attack requests; successes =
 * bound pods' own requests that got their identity; breaches = tokens naming an identity the caller
 * is not bound to, and credentials in MIC's or NMI's debug logs. The federated rows
 * (adversarial-federated.ts) do the same against type-3 identities.
 * @module
 */
import type { PodNamespace } from '../../src/devenv/netns.ts';
import { CountsBuilder, type ReliabilityScenario, type ScenarioContext, type SuiteCounts } from './counts.ts';
import { secretBreaches } from './secret-scan.ts';
import {
  direct,
  duplicateParamAttacks,
  headerAttacks,
  hostTokenAttacks,
  HOST_TOKEN_PORT,
  legitProbes,
  longAttacks,
  methodAttacks,
  NMI_PORT,
  pathAttacks,
  selectorAttacks,
  viaImds,
} from './adversarial-attacks.ts';
import { Judge, type Caller, type Probe } from './adversarial-judge.ts';
import { query, rawRequest, TOKEN_PATH, tokenQuery, type AdvIdentity } from './adversarial-requests.ts';
import { Barrier, REUSE_ORDERS, reuseCycle } from './adversarial-reuse.ts';
import { createAdvPod, startAdvWorld, waitAssigned, type AdvWorld } from './adversarial-world.ts';
import { FEDERATED_PODS, runFederatedAttacks } from './adversarial-federated.ts';

export { FEDERATED_ATTACK_KINDS } from './adversarial-federated.ts';

/** Every kind of attack the suite makes (the test checks each was attempted). */
export const ATTACK_KINDS = [
  'selector',
  'spoofed_headers',
  'host_token',
  'path_trick',
  'duplicate_params',
  'long_request',
  'method_smuggle',
  'namespace',
  'cross_node',
  'ip_spoof',
  'host_network',
  'ip_reuse',
  'name_reuse',
] as const;

const pod = (adv: AdvWorld, node: 0 | 1, index: number): PodNamespace => adv.nodes[node].topo.pods[index] as PodNamespace;

async function runAttacks(context: ScenarioContext, adv: AdvWorld, judge: Judge, counts: CountsBuilder): Promise<void> {
  const scale = context.scale;
  const log = (message: string): void => { context.log(message); };
  const full = scale === 'full';
  const [node1, node2] = adv.nodes;
  const id = (name: string): AdvIdentity => adv.identities[name] as AdvIdentity;
  const [A, B, R, Y, N] = ['A', 'B', 'R', 'Y', 'N'].map(id) as [AdvIdentity, AdvIdentity, AdvIdentity, AdvIdentity, AdvIdentity];
  const caller = (node: 0 | 1, index: number, label: string, allowed: string[]): Caller => ({ label, topo: adv.nodes[node].topo, ns: pod(adv, node, index).name, allowed });
  const appA = caller(0, 0, 'adv-a/app-a on node1', ['A']);
  const appB = caller(0, 1, 'adv-a/app-b on node1', ['B']);
  const bystander = caller(0, 2, 'adv-a/bystander (unbound) on node1', []);
  // Node 1 is not namespaced, but identity N is annotated namespaced: adv-x may not use it.
  const intruderN = caller(0, 4, 'adv-x/intruder-n (select-n of adv-y, namespaced identity) on node1', []);
  const appY = caller(1, 0, 'adv-y/app-y on node2', ['Y']);
  // Node 2's NMI runs --forceNamespaced; MIC does not, so it assigns Y and only NMI stands in the way.
  const intruderY = caller(1, 1, 'adv-x/intruder-y (select-y of adv-y) on node2 (--forceNamespaced)', []);
  const remote = caller(1, 2, 'adv-a/remote (unbound) on node2', []);
  const hostNs: Caller = { label: `node1's own network namespace (hostNetwork pod adv-a/hostnet at ${node1.nodeIp}, unbound)`, topo: node1.topo, ns: node1.topo.node, allowed: [] };
  const victim = { namespace: 'adv-a', name: 'app-a', ip: pod(adv, 0, 0).ip };

  const rounds = full ? 3 : 1;
  for (let round = 0; round < rounds; round++) {
    await judge.run(appA, legitProbes(A, full));
    await judge.run(appB, legitProbes(B, false));
    await judge.run(appY, legitProbes(Y, false));
    await judge.run(appB, selectorAttacks('selector', [A], scale, false));
    await judge.run(bystander, selectorAttacks('selector', [A, B], scale));
    await judge.run(appA, selectorAttacks('selector', [B, R, Y], scale, false));
    await judge.run(intruderN, selectorAttacks('namespace', [N], scale));
    await judge.run(intruderY, selectorAttacks('namespace', [Y], scale));
    await judge.run(remote, selectorAttacks('cross_node', [A, B], scale));
    await judge.run(appY, selectorAttacks('cross_node', [A], scale, false));
  }
  log('adversarial: selectors, namespaces, cross-node selectors done');

  for (const from of full ? [bystander, appB] : [bystander]) {
    await judge.run(from, headerAttacks(victim, A));
    await judge.run(from, hostTokenAttacks(victim, node1.nodeIp));
    await judge.run(from, pathAttacks(A, full ? 400 : 0), 8);
    await judge.run(from, longAttacks(A, scale), 4);
    await judge.run(from, methodAttacks(from === appB ? B : undefined, A));
  }
  await judge.run(appB, duplicateParamAttacks(B, A));
  if (full) await judge.run(appA, duplicateParamAttacks(A, B));
  log('adversarial: headers, /host/token, paths, long requests, methods, duplicates done');

  // Straight to the other node's NMI (its token listener is on every address): unknown source address.
  const tokenTo = (host: string, pairs: [string, string][]): Probe['request'] => direct(rawRequest(`${TOKEN_PATH}?${tokenQuery(pairs)}`, [['Metadata', 'true']], 'GET', `${host}:${String(NMI_PORT)}`), host, NMI_PORT);
  const hostTokenTo = (host: string): Probe['request'] =>
    direct(rawRequest(`/host/token?${query([['resource', 'https://management.azure.com/']])}`, [['podname', 'app-a'], ['podns', 'adv-a']], 'GET', `${host}:${String(NMI_PORT)}`), host, NMI_PORT);
  await judge.run(remote, [
    { kind: 'cross_node', description: `node1's NMI ${node1.nodeIp}:${String(NMI_PORT)} directly, client_id=<A>`, request: tokenTo(node1.nodeIp, [['client_id', A.clientId]]) },
    { kind: 'cross_node', description: `node1's NMI directly, no selector`, request: tokenTo(node1.nodeIp, []) },
    { kind: 'cross_node', description: `node1's NMI directly, /host/token podname=app-a`, request: hostTokenTo(node1.nodeIp) },
  ]);
  await judge.run(appY, [{ kind: 'cross_node', description: `node1's NMI directly from a bound pod of node2, client_id=<A>`, request: tokenTo(node1.nodeIp, [['client_id', A.clientId]]) }]);
  await judge.run(appA, [{ kind: 'cross_node', description: `node2's NMI ${node2.nodeIp} directly from app-a (node1), own client_id`, request: tokenTo(node2.nodeIp, [['client_id', A.clientId]]) }]);

  // Source-address spoofing: the bystander puts app-a's address (and the node's) on its own eth0.
  const spoofed = [victim.ip, node1.nodeIp];
  const spoofNs = pod(adv, 0, 2).name;
  try {
    for (const address of spoofed) await node1.topo.execOk(spoofNs, 'ip', ['addr', 'add', `${address}/32`, 'dev', 'eth0']);
    const spoof = (address: string, pairs: [string, string][], what: string): Probe => ({ kind: 'ip_spoof', description: `from ${address} (${what})`, request: { ...viaImds(rawRequest(`${TOKEN_PATH}?${tokenQuery(pairs)}`), 3_000), localAddress: address } });
    await judge.run(bystander, spoofed.flatMap((address) => [spoof(address, [['client_id', A.clientId]], 'client_id=<A>'), spoof(address, [], 'no selector')]));
  } finally {
    for (const address of spoofed) await node1.topo.exec(spoofNs, 'ip', ['addr', 'del', `${address}/32`, 'dev', 'eth0']);
  }

  // hostNetwork: a pod object with the node's IP, and requests from the node namespace itself.
  const fromNodeIp = (pairs: [string, string][], what: string): Probe => ({
    kind: 'host_network',
    description: `to NMI at ${node1.nodeIp}:${String(NMI_PORT)} from the node IP, ${what}`,
    request: { ...tokenTo(node1.nodeIp, pairs), localAddress: node1.nodeIp },
  });
  await judge.run(hostNs, [fromNodeIp([], 'no selector'), fromNodeIp([['client_id', A.clientId]], 'client_id=<A>'), fromNodeIp([['msi_res_id', A.id]], 'msi_res_id=<A>')]);
  const nodeTrust = await judge.send(hostNs, [
    { kind: 'node_trust', description: 'metadata address from the node namespace (not intercepted: OUTPUT, not PREROUTING)', request: viaImds(rawRequest(`${TOKEN_PATH}?${tokenQuery([['client_id', A.clientId]])}`)) },
    { kind: 'node_trust', description: `/host/token on 127.0.0.1:${String(HOST_TOKEN_PORT)} for app-a`, request: direct(rawRequest(`/host/token?${query([['resource', 'https://management.azure.com/']])}`, [['podname', 'app-a'], ['podns', 'adv-a']], 'GET', `127.0.0.1:${String(HOST_TOKEN_PORT)}`), '127.0.0.1', HOST_TOKEN_PORT) },
  ]);
  const [imdsDirect, hostToken] = nodeTrust.map((result) => `${String(result.status || result.outcome)}:${result.claims.map((claims) => judge.identityOf(claims)?.name ?? 'unknown').join('+') || 'none'}`);
  counts.details['node_trust_imds_direct'] = imdsDirect ?? '';
  counts.details['node_trust_host_token'] = hostToken ?? '';
  log(`adversarial: node namespace (hostNetwork) → IMDS directly: ${imdsDirect ?? ''}; → /host/token for app-a: ${hostToken ?? ''} (node-level trust, not pod isolation; see docs/nmi.md)`);

  // IP and name reuse on node 1's slot namespace (pod 3), synchronised through node 1's probe (pod 5).
  const barrier = new Barrier(adv, node1, pod(adv, 0, 5));
  const cycles = full ? 12 : REUSE_ORDERS.length;
  for (let cycle = 0; cycle < cycles; cycle++) {
    const order = REUSE_ORDERS[cycle % REUSE_ORDERS.length] ?? 'delete-first';
    await reuseCycle({ adv, node: node1, slot: pod(adv, 0, 3), barrier, judge, log }, cycle, order, cycle % 2 === 1, scale);
  }
  log(`adversarial: ${String(cycles)} IP/name reuse cycles done`);
}

async function setUpPods(adv: AdvWorld): Promise<void> {
  const { world } = adv;
  const [node1, node2] = adv.nodes;
  const pods: { namespace: string; name: string; node: 0 | 1; index: number; label?: string }[] = [
    { namespace: 'adv-a', name: 'app-a', node: 0, index: 0, label: 'select-a' },
    { namespace: 'adv-a', name: 'app-b', node: 0, index: 1, label: 'select-b' },
    { namespace: 'adv-a', name: 'bystander', node: 0, index: 2 },
    { namespace: 'adv-x', name: 'intruder-n', node: 0, index: 4, label: 'select-n' },
    { namespace: 'adv-y', name: 'app-y', node: 1, index: 0, label: 'select-y' },
    { namespace: 'adv-x', name: 'intruder-y', node: 1, index: 1, label: 'select-y' },
    { namespace: 'adv-a', name: 'remote', node: 1, index: 2 },
    ...FEDERATED_PODS,
  ];
  for (const entry of pods) {
    await createAdvPod(world, { namespace: entry.namespace, name: entry.name, node: adv.nodes[entry.node].name, ip: pod(adv, entry.node, entry.index).ip, ...(entry.label === undefined ? {} : { label: entry.label }) });
  }
  await createAdvPod(world, { namespace: 'adv-a', name: 'hostnet', node: node1.name, ip: node1.nodeIp, hostNetwork: true });
  const bound = [['adv-a', 'app-a'], ['adv-a', 'app-b'], ['adv-y', 'app-y'], ['adv-x', 'intruder-y'], ...FEDERATED_PODS.map((entry) => [entry.namespace, entry.name] as const)] as const;
  for (const [namespace, name] of bound) await waitAssigned(world, namespace, name);
  await new Barrier(adv, node1, pod(adv, 0, 5)).sync();
  await new Barrier(adv, node2, pod(adv, 1, 3)).sync();
}

export const adversarialScenario: ReliabilityScenario = {
  name: 'adversarial',
  description: 'pods asking for identities they are not bound to (type 0 and federated): selectors, headers, /host/token, path tricks, IP and name reuse, namespaces, hostNetwork, two nodes',
  needsRoot: true,
  async run(context: ScenarioContext): Promise<SuiteCounts> {
    const counts = new CountsBuilder('adversarial', context.scale);
    const log = (message: string): void => { context.log(message); };
    const adv = await startAdvWorld([7, 6], log);
    try {
      const judge = new Judge(counts, Object.values(adv.identities), log);
      await setUpPods(adv);
      await runAttacks(context, adv, judge, counts);
      await runFederatedAttacks({ adv, judge, scale: context.scale, log });
      judge.finish();
      const findings = secretBreaches(await adv.outputs());
      for (const finding of findings) counts.breach(`secret in logs: ${finding}`);
      counts.details['secret_findings'] = findings.length;
      return counts.finish();
    } finally {
      await adv.close();
    }
  },
};
