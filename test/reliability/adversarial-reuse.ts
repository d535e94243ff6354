/**
 * IP and name reuse (issue 8): pod V, bound to identity R, goes away and pod C — not bound to R —
 * takes over V's address (the process in the slot namespace is C from then on). Each cycle writes the
 * API objects in one realistic order, waits until NMI has seen the writes (a {@link Barrier}), and then
 * asks from V's old address for R and for the default identity. C must never get R.
 *
 * Orders: `delete-first` (graceful deletion — deletionTimestamp — then C's IP, then V's removal),
 * `ip-first` (C's IP reaches the API before V's deletion), `evicted` (V Failed with its IP kept, no
 * deletionTimestamp), `name-reuse` (V removed while MIC is down, C created with V's name: V's
 * AzureAssignedIdentity is stale).
 * @module
 */
import type { PodNamespace } from '../../src/devenv/netns.ts';
import { waitUntil } from '../support/nmi-e2e.ts';
import type { Scale } from './counts.ts';
import { tokenProbe } from './adversarial-attacks.ts';
import type { Caller, Judge, Probe } from './adversarial-judge.ts';
import type { AdvIdentity } from './adversarial-requests.ts';
import { createAdvPod, deleteAdvPod, waitAssigned, type AdvNode, type AdvWorld } from './adversarial-world.ts';

const NS = 'adv-a';

/**
 * "NMI has seen every write made so far": a sentinel pod gets the probe namespace's address and the
 * probe asks until NMI answers with its name (404 "pod <name> has no aadpodidbinding label", not the
 * 500 for an unknown address nor the previous sentinel's 404). The pods watch is one ordered stream,
 * so every earlier pod write has reached NMI too.
 */
export class Barrier {
  private readonly adv: AdvWorld;
  private readonly node: AdvNode;
  private readonly probe: PodNamespace;
  private serial = 0;

  constructor(adv: AdvWorld, node: AdvNode, probe: PodNamespace) {
    this.adv = adv;
    this.node = node;
    this.probe = probe;
  }

  async sync(): Promise<void> {
    const name = `sentinel-${String(++this.serial)}`;
    await createAdvPod(this.adv.world, { namespace: NS, name, node: this.node.name, ip: this.probe.ip });
    try {
      await waitUntil(
        `NMI on ${this.node.name} to see ${name}`,
        async () => {
          const result = await this.node.topo.exec(this.probe.name, 'curl', ['-s', '--noproxy', '*', '--max-time', '5', '-H', 'Metadata: true', 'http://169.254.169.254/metadata/identity/oauth2/token?resource=https%3A%2F%2Fmanagement.azure.com%2F'], { timeoutMs: 15_000 });
          // NMI names the pod it found: the previous sentinel (deleted, but maybe not yet seen) is not enough.
          return result.stdout.includes(`${NS}/${name} has no aadpodidbinding label`);
        },
        20_000,
        20,
      );
    } finally {
      await deleteAdvPod(this.adv.world, NS, name, 0);
    }
  }
}

export type ReuseOrder = 'delete-first' | 'ip-first' | 'evicted' | 'name-reuse';
export const REUSE_ORDERS: readonly ReuseOrder[] = ['delete-first', 'ip-first', 'evicted', 'name-reuse'];

export interface ReuseContext {
  readonly adv: AdvWorld;
  readonly node: AdvNode;
  readonly slot: PodNamespace;
  readonly barrier: Barrier;
  readonly judge: Judge;
  readonly log: (message: string) => void;
}

function attacks(kind: string, stage: string, victimIdentity: AdvIdentity, scale: Scale): Probe[] {
  const probes = [tokenProbe(kind, undefined), tokenProbe(kind, victimIdentity, 'client_id'), tokenProbe(kind, victimIdentity, 'msi_res_id'), tokenProbe(kind, victimIdentity, 'object_id')];
  if (scale === 'full') probes.push(tokenProbe(kind, victimIdentity, 'mi_res_id'), tokenProbe(kind, victimIdentity, 'client_id', 'upper'));
  return probes.map((probe) => ({ ...probe, description: `${stage}: ${probe.description}` }));
}

/** One reuse cycle in `order`; `labelled` gives C the binding of identity B (else no label). */
export async function reuseCycle(context: ReuseContext, cycle: number, order: ReuseOrder, labelled: boolean, scale: Scale): Promise<void> {
  const { adv, node, slot, barrier, judge } = context;
  const world = adv.world;
  const R = adv.identities['R'] as AdvIdentity;
  const B = adv.identities['B'] as AdvIdentity;
  const kind = order === 'name-reuse' ? 'name_reuse' : 'ip_reuse';
  const victim = order === 'name-reuse' ? `web-${String(cycle)}` : `victim-${String(cycle)}`;
  const reuser = order === 'name-reuse' ? victim : `reuser-${String(cycle)}`;
  const asVictim: Caller = { label: `${NS}/${victim} at ${slot.ip}`, topo: node.topo, ns: slot.name, allowed: ['R'] };
  const asReuser: Caller = { label: `${NS}/${reuser} (new pod${labelled ? ', bound to B' : ', unbound'}) at ${slot.ip}, ${order}`, topo: node.topo, ns: slot.name, allowed: labelled ? ['B'] : [] };
  const newPod = { namespace: NS, name: reuser, node: node.name, ip: slot.ip, ...(labelled ? { label: 'select-b' } : {}) };
  const stage = async (what: string): Promise<void> => {
    await barrier.sync();
    await judge.run(asReuser, attacks(kind, `${order} cycle ${String(cycle)}, ${what}`, R, scale));
  };

  await createAdvPod(world, { namespace: NS, name: victim, node: node.name, label: 'select-r', ip: slot.ip });
  await waitAssigned(world, NS, victim);
  await barrier.sync();
  await judge.run(asVictim, [{ ...tokenProbe('legit', undefined), expect: 'R' }, { ...tokenProbe('legit', R), expect: 'R' }]);

  switch (order) {
    case 'delete-first':
      await deleteAdvPod(world, NS, victim, 30);
      await stage('old pod terminating (deletionTimestamp), new pod not in the API yet');
      await createAdvPod(world, newPod);
      await stage('old pod terminating, new pod Running with the same IP');
      await deleteAdvPod(world, NS, victim, 0);
      await stage('old pod removed');
      break;
    case 'ip-first':
      await createAdvPod(world, newPod);
      await stage('new pod Running with the IP before the old pod is deleted');
      await deleteAdvPod(world, NS, victim, 30);
      await stage('then the old pod terminating');
      await deleteAdvPod(world, NS, victim, 0);
      await stage('old pod removed');
      break;
    case 'evicted':
      await world.setPodPhase(NS, victim, 'Failed');
      await stage('old pod Failed (evicted), IP kept in its status');
      await createAdvPod(world, newPod);
      await stage('old pod Failed, new pod Running with the IP');
      await deleteAdvPod(world, NS, victim, 0);
      await stage('old pod removed');
      break;
    case 'name-reuse': {
      await adv.stopMic();
      try {
        await deleteAdvPod(world, NS, victim, 0);
        await stage('old pod removed while MIC is down (its AzureAssignedIdentity stays)');
        await createAdvPod(world, newPod);
        await stage('new pod with the old name and IP, stale AzureAssignedIdentity for R');
      } finally {
        await adv.startMic();
      }
      await waitUntil(`MIC to drop ${NS}/${victim}'s assignment of R`, async () => (await world.assignedFor(NS, victim)).every((aai) => aai.spec.azureIdentityRef?.spec.clientID !== R.clientId), 60_000, 200);
      await stage('MIC back');
      break;
    }
  }
  if (labelled) {
    await waitAssigned(world, NS, reuser);
    await judge.run(asReuser, [{ ...tokenProbe('legit', undefined), expect: 'B' }, { ...tokenProbe('legit', B), expect: 'B' }]);
  }
  await deleteAdvPod(world, NS, reuser, 0);
}
