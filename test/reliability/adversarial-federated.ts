/**
 * The adversarial suite's federated rows (issue 16): pods asking for another pod's federated identity
 * (AzureIdentity type 3, served by NMI from Entra ID with its own service-account token; MIC assigns
 * it with no ARM call, so NMI alone decides) by every selector, from an unbound pod, from pods bound
 * to a type-0 identity and to the other federated identity, from another namespace on the
 * `--forceNamespaced` node, from the other node, with spoofed headers, /host/token, path tricks,
 * duplicated parameters, smuggled requests, a spoofed source address and the node's own address.
 * Each row is its own kind (`federated_<kind>`), counted like the type-0 rows.
 * @module
 */
import type { PodNamespace } from '../../src/devenv/netns.ts';
import type { Scale } from './counts.ts';
import {
  direct,
  duplicateParamAttacks,
  headerAttacks,
  hostTokenAttacks,
  legitProbes,
  methodAttacks,
  NMI_PORT,
  pathAttacks,
  selectorAttacks,
  viaImds,
} from './adversarial-attacks.ts';
import type { Caller, Judge, Probe } from './adversarial-judge.ts';
import { rawRequest, SELECTOR_PARAMS, selectorValue, TOKEN_PATH, tokenQuery, type AdvIdentity } from './adversarial-requests.ts';
import type { AdvWorld } from './adversarial-world.ts';

/** Every federated row (the test checks each was attempted). */
export const FEDERATED_ATTACK_KINDS = [
  'federated_selector',
  'federated_namespace',
  'federated_cross_node',
  'federated_spoofed_headers',
  'federated_host_token',
  'federated_path_trick',
  'federated_duplicate_params',
  'federated_method_smuggle',
  'federated_ip_spoof',
  'federated_host_network',
] as const;

/** Where the federated pods live: pod namespace index on node 1 / node 2 (after the type-0 pods). */
export const FEDERATED_PODS = [
  { namespace: 'adv-a', name: 'app-f', node: 0, index: 6, label: 'select-f' },
  { namespace: 'adv-y', name: 'app-g', node: 1, index: 4, label: 'select-g' },
  // Another namespace selecting adv-y's binding: MIC (not namespaced) assigns G, node 2's NMI must refuse.
  { namespace: 'adv-x', name: 'intruder-g', node: 1, index: 5, label: 'select-g' },
] as const;

const as = (kind: string, probes: readonly Probe[]): Probe[] => probes.map((probe) => ({ ...probe, kind }));

export interface FederatedRowsOptions {
  readonly adv: AdvWorld;
  readonly judge: Judge;
  readonly scale: Scale;
  readonly log: (message: string) => void;
}

export async function runFederatedAttacks({ adv, judge, scale, log }: FederatedRowsOptions): Promise<void> {
  const full = scale === 'full';
  const [node1, node2] = adv.nodes;
  const id = (name: string): AdvIdentity => adv.identities[name] as AdvIdentity;
  const [A, B, F, G] = ['A', 'B', 'F', 'G'].map(id) as [AdvIdentity, AdvIdentity, AdvIdentity, AdvIdentity];
  const pod = (node: 0 | 1, index: number): PodNamespace => adv.nodes[node].topo.pods[index] as PodNamespace;
  const caller = (node: 0 | 1, index: number, label: string, allowed: string[]): Caller => ({ label, topo: adv.nodes[node].topo, ns: pod(node, index).name, allowed });
  const appA = caller(0, 0, 'adv-a/app-a (type 0) on node1', ['A']);
  const appB = caller(0, 1, 'adv-a/app-b (type 0) on node1', ['B']);
  const bystander = caller(0, 2, 'adv-a/bystander (unbound) on node1', []);
  const appF = caller(0, 6, 'adv-a/app-f (federated F) on node1', ['F']);
  const appG = caller(1, 4, 'adv-y/app-g (federated G) on node2', ['G']);
  const intruderG = caller(1, 5, 'adv-x/intruder-g (select-g of adv-y) on node2 (--forceNamespaced)', []);
  const remote = caller(1, 2, 'adv-a/remote (unbound) on node2', []);
  const hostNs: Caller = { label: `node1's own network namespace (node IP ${node1.nodeIp}, unbound)`, topo: node1.topo, ns: node1.topo.node, allowed: [] };
  const victimF = { namespace: 'adv-a', name: 'app-f', ip: pod(0, 6).ip };

  for (let round = 0; round < (full ? 3 : 1); round++) {
    await judge.run(appF, legitProbes(F, full));
    await judge.run(appG, legitProbes(G, full));
    await judge.run(bystander, selectorAttacks('federated_selector', [F], scale));
    await judge.run(appA, selectorAttacks('federated_selector', [F, G], scale, false));
    await judge.run(appB, selectorAttacks('federated_selector', [F], scale, false));
    await judge.run(appF, selectorAttacks('federated_selector', [A, B, G], scale, false));
    await judge.run(intruderG, selectorAttacks('federated_namespace', [G], scale));
    await judge.run(remote, selectorAttacks('federated_cross_node', [F, G], scale));
    await judge.run(appG, selectorAttacks('federated_cross_node', [F], scale, false));
  }
  log('adversarial: federated selectors, namespaces, cross-node selectors done');

  for (const from of full ? [bystander, appA] : [bystander]) {
    await judge.run(from, as('federated_spoofed_headers', headerAttacks(victimF, F)));
    await judge.run(from, as('federated_host_token', hostTokenAttacks(victimF, node1.nodeIp)));
    await judge.run(from, as('federated_path_trick', pathAttacks(F, full ? 100 : 0)), 8);
  }
  await judge.run(appA, as('federated_duplicate_params', duplicateParamAttacks(A, F)));
  await judge.run(appF, as('federated_duplicate_params', duplicateParamAttacks(F, A)));
  await judge.run(appF, as('federated_duplicate_params', duplicateParamAttacks(F, G)));
  await judge.run(appA, as('federated_method_smuggle', methodAttacks(A, F)));
  await judge.run(appF, as('federated_method_smuggle', methodAttacks(F, G)));
  log('adversarial: federated headers, /host/token, paths, duplicates, methods done');

  // Straight to the other node's NMI: an address it has no pod for.
  const tokenTo = (host: string, pairs: [string, string][]): Probe['request'] => direct(rawRequest(`${TOKEN_PATH}?${tokenQuery(pairs)}`, [['Metadata', 'true']], 'GET', `${host}:${String(NMI_PORT)}`), host, NMI_PORT);
  const directProbes = (host: string, target: AdvIdentity, what: string): Probe[] => [
    ...SELECTOR_PARAMS.map((param): Probe => ({ kind: 'federated_cross_node', description: `${what} NMI ${host}:${String(NMI_PORT)} directly, ${param}=<${target.name}>`, request: tokenTo(host, [[param, selectorValue(target, param)]]) })),
    { kind: 'federated_cross_node', description: `${what} NMI ${host} directly, no selector`, request: tokenTo(host, []) },
  ];
  await judge.run(remote, directProbes(node1.nodeIp, F, "node1's"));
  await judge.run(appG, directProbes(node1.nodeIp, F, "node1's"));
  await judge.run(appF, directProbes(node2.nodeIp, G, "node2's"));
  await judge.run(appF, [{ kind: 'federated_cross_node', description: `node2's NMI ${node2.nodeIp} directly from app-f (node1), own client_id`, request: tokenTo(node2.nodeIp, [['client_id', F.clientId]]) }]);

  // The bystander puts app-f's address on its own eth0 and asks from it.
  const spoofNs = pod(0, 2).name;
  const spoofed = [victimF.ip, node1.nodeIp];
  try {
    for (const address of spoofed) await node1.topo.execOk(spoofNs, 'ip', ['addr', 'add', `${address}/32`, 'dev', 'eth0']);
    const spoof = (address: string, pairs: [string, string][], what: string): Probe => ({ kind: 'federated_ip_spoof', description: `from ${address} (${what})`, request: { ...viaImds(rawRequest(`${TOKEN_PATH}?${tokenQuery(pairs)}`), 3_000), localAddress: address } });
    await judge.run(bystander, spoofed.flatMap((address) => [spoof(address, [['client_id', F.clientId]], 'client_id=<F>'), spoof(address, [['msi_res_id', F.id]], 'msi_res_id=<F>'), spoof(address, [], 'no selector')]));
  } finally {
    for (const address of spoofed) await node1.topo.exec(spoofNs, 'ip', ['addr', 'del', `${address}/32`, 'dev', 'eth0']);
  }

  // From the node's own address (a hostNetwork pod object adv-a/hostnet has it) to NMI's listener.
  const fromNodeIp = (pairs: [string, string][], what: string): Probe => ({ kind: 'federated_host_network', description: `to NMI at ${node1.nodeIp}:${String(NMI_PORT)} from the node IP, ${what}`, request: { ...tokenTo(node1.nodeIp, pairs), localAddress: node1.nodeIp } });
  await judge.run(hostNs, [fromNodeIp([], 'no selector'), ...SELECTOR_PARAMS.map((param) => fromNodeIp([[param, selectorValue(F, param)]], `${param}=<F>`))]);
  log('adversarial: federated cross-node, IP spoofing, node address done');
}
