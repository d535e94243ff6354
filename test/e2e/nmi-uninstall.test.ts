/**
 * Fail-closed across restarts, clean on uninstall: NMI in a node namespace keeps its iptables rules
 * when it is stopped (SIGTERM) while its DaemonSet exists — a restart or an upgrade — and removes them
 * when it stops after its DaemonSet was deleted (helm uninstall, kubectl delete).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../../src/kube/raw-client.ts';
import type { IptablesConfig } from '../../src/nmi/node/iptables/rules.ts';
import { assertNetnsPrerequisites, createTopology, IMDS_IP, waitForLogLine, type NetnsTopology } from '../../src/devenv/netns.ts';
import { MicWorld } from '../support/mic-world.ts';
import { interceptionInstalled, interceptionState, NMI_PORT, startNodeNmi, waitForNmiServing, type NodeNmiOptions } from '../support/nmi-e2e.ts';

const DAEMON_SET = 'pod-identity-nmi';
const NAMESPACE = 'kube-system';
let world: MicWorld;
let topo: NetnsTopology;
let options: NodeNmiOptions;
let config: IptablesConfig;

async function createDaemonSet(): Promise<void> {
  const labels = { 'app.kubernetes.io/component': 'nmi' };
  await rawRequest(world.kc, {
    method: 'POST',
    path: `/apis/apps/v1/namespaces/${NAMESPACE}/daemonsets`,
    body: { metadata: { name: DAEMON_SET, labels }, spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'nmi', image: 'example.invalid/nmi:1' }] } } } },
  });
}

beforeAll(async () => {
  await assertNetnsPrerequisites();
  world = await MicWorld.start({ scaleSetNodes: 1, vmNodes: 0 });
  topo = await createTopology({ pods: 1 });
  const apiPort = Number(new URL(world.kc.getCurrentCluster()?.server ?? '').port);
  await topo.expose(topo.node, { listenHost: '127.0.0.1', listenPort: apiPort, target: { host: '127.0.0.1', port: apiPort } });
  const caFile = path.join(world.dir, 'sim-ca.pem');
  writeFileSync(caFile, world.sim.caPem);
  const dnatIp = topo.pods[0]?.gateway ?? '';
  options = { node: world.scaleSetNodes[0] ?? '', kubeconfig: world.plane.kubeconfigPath, dnatIp, caFile, env: { NMI_DAEMONSET_NAME: DAEMON_SET, POD_NAMESPACE: NAMESPACE } };
  config = { chain: 'aad-metadata', metadataIp: IMDS_IP, metadataPort: 80, targetIp: dnatIp, targetPort: NMI_PORT, guardChain: 'aad-metadata-guard' };
  await createDaemonSet();
}, 120_000);

afterAll(async () => {
  await topo.cleanup();
  await world.stop();
});

describe('NMI and its iptables rules when it stops', () => {
  it('keeps the rules on SIGTERM while its DaemonSet exists (restart, upgrade)', async () => {
    const nmi = await startNodeNmi(topo, options);
    await waitForNmiServing(topo, nmi, options.dnatIp);
    expect(await interceptionInstalled(topo, config)).toBe(true);
    await nmi.stop(10_000);
    expect(nmi.exit()).toBeDefined();
    expect(await interceptionInstalled(topo, config)).toBe(true);
  });

  it('removes the rules on SIGTERM after its DaemonSet was deleted (uninstall)', async () => {
    const nmi = await startNodeNmi(topo, options);
    await waitForNmiServing(topo, nmi, options.dnatIp);
    await rawRequest(world.kc, { method: 'DELETE', path: `/apis/apps/v1/namespaces/${NAMESPACE}/daemonsets/${DAEMON_SET}` });
    await waitForLogLine(nmi, (line) => line.includes('NMI DaemonSet deleted'));
    await nmi.stop(10_000);
    const state = await interceptionState(topo, config);
    expect(state.chain).toBeUndefined();
    expect(state.jumps).toEqual([]);
    expect(state.guard).toEqual({ chain: undefined, input: [], forward: [] });
  });
});
