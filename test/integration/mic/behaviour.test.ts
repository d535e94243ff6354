import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { PREEXISTING_ANNOTATION } from '../../../src/api/index.ts';
import { useMicWorld } from '../../support/mic-suite.ts';
import {
  addScaleSet,
  addVm,
  applyAll,
  applyYaml,
  armWriteLog,
  computeIdentity,
  deleteAssigned,
  getAssigned,
  patchCustom,
  recordAssigned,
} from '../../support/mic-behaviour.ts';
import { upstreamExamplesDir } from '../../support/yaml-files.ts';

// MIC's behaviour rules, end to end (MIC as a real process, real API server, simulated ARM), each
// checked on both sides: the AzureAssignedIdentities and the identities on the simulated VM/VMSS.
// Removal grace period 0s (the world's default), so removals happen as soon as MIC decides them.

const suite = useMicWorld({ scaleSetNodes: 3, vmNodes: 1 });
const w = suite.world;

const WAIT = { timeout: 30_000, interval: 100 };

/** A user-assigned identity in the simulator plus its AzureIdentity and a binding with selector `selector` (default: the name). */
async function boundIdentity(namespace: string, name: string, selector = name): Promise<{ id: string; clientId: string }> {
  const azure = await w().azureIdentity(name);
  await w().createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId });
  await w().createBinding(namespace, `${name}-binding`, name, selector);
  return { id: azure.id.toLowerCase(), clientId: azure.clientId };
}

/** States of a pod's AAIs, sorted by identity name. */
async function statesOf(namespace: string, pod: string): Promise<{ identity: string; state: string }[]> {
  return (await w().assignedFor(namespace, pod))
    .map((entry) => ({ identity: entry.spec.azureIdentityRef?.metadata.name ?? '', state: entry.status?.status ?? '' }))
    .sort((a, b) => a.identity.localeCompare(b.identity));
}

async function waitAssigned(namespace: string, pod: string, identities: readonly string[]): Promise<void> {
  await vi.waitFor(async () => {
    expect(await statesOf(namespace, pod)).toEqual([...identities].sort().map((identity) => ({ identity, state: 'Assigned' })));
  }, WAIT);
}

async function waitNoAssigned(namespace: string, pod: string): Promise<void> {
  await vi.waitFor(async () => { expect(await w().assignedFor(namespace, pod)).toEqual([]); }, WAIT);
}

const worldScaleSet = (): string[] => w().scaleSetIdentities();

describe('pre-existing and system-assigned identities', () => {
  it('a scale set keeps its system-assigned identity and pre-existing identities; a pre-existing identity a pod used is not removed', async () => {
    const ns = await w().namespace('preexisting');
    const mine = await boundIdentity(ns, 'mine', 'app');
    const used = await boundIdentity(ns, 'used-before', 'app');
    const other = await w().azureIdentity('unrelated');
    // Seeded with the other casing ARM sometimes returns: MIC must still recognise the ID.
    const usedAsSeeded = used.id.replace('/resourcegroups/', '/resourceGroups/').toUpperCase();
    const scaleSet = await addScaleSet(w(), 'aks-sysid-23456789-vmss', { instances: 2, identities: [usedAsSeeded, other.id], systemAssigned: true });
    const before = computeIdentity(w(), scaleSet.id);
    expect(before.type).toBe('SystemAssigned, UserAssigned');

    await w().createPod(ns, 'app', scaleSet.nodes[1]!, 'app');
    await waitAssigned(ns, 'app', ['mine', 'used-before']);
    const assigned = await w().assignedFor(ns, 'app');
    const annotations = (identity: string): Record<string, string> => assigned.find((entry) => entry.spec.azureIdentityRef?.metadata.name === identity)?.metadata.annotations ?? {};
    expect(annotations('used-before')[PREEXISTING_ANNOTATION]).toBe('true');
    expect(annotations('mine')[PREEXISTING_ANNOTATION]).toBeUndefined();
    expect(computeIdentity(w(), scaleSet.id)).toEqual({
      type: 'SystemAssigned, UserAssigned',
      systemAssignedPrincipalId: before.systemAssignedPrincipalId,
      userAssigned: [mine.id, used.id, other.id.toLowerCase()].sort(),
    });
    expect(await armWriteLog(w(), 'aks-sysid-23456789-vmss')).toHaveLength(1);

    await w().deletePod(ns, 'app');
    await waitNoAssigned(ns, 'app');
    await vi.waitFor(() => { expect(computeIdentity(w(), scaleSet.id).userAssigned).not.toContain(mine.id); }, WAIT);
    expect(computeIdentity(w(), scaleSet.id)).toEqual({
      type: 'SystemAssigned, UserAssigned',
      systemAssignedPrincipalId: before.systemAssignedPrincipalId,
      userAssigned: [used.id, other.id.toLowerCase()].sort(),
    });
    expect(await armWriteLog(w(), 'aks-sysid-23456789-vmss')).toHaveLength(2);
  });

  it('a VM with only a system-assigned identity goes back to SystemAssigned (not None) when MIC removes its identity', async () => {
    const ns = await w().namespace('system-vm');
    const mine = await boundIdentity(ns, 'sys-vm-id');
    const vm = await addVm(w(), 'aks-sysvm-0', { systemAssigned: true });
    const principal = computeIdentity(w(), vm).systemAssignedPrincipalId;
    expect(principal).toBeDefined();

    await w().createPod(ns, 'app', 'aks-sysvm-0', 'sys-vm-id');
    await waitAssigned(ns, 'app', ['sys-vm-id']);
    expect(computeIdentity(w(), vm)).toEqual({ type: 'SystemAssigned, UserAssigned', systemAssignedPrincipalId: principal, userAssigned: [mine.id] });

    await w().deletePod(ns, 'app');
    await waitNoAssigned(ns, 'app');
    await vi.waitFor(() => { expect(computeIdentity(w(), vm)).toEqual({ type: 'SystemAssigned', systemAssignedPrincipalId: principal, userAssigned: [] }); }, WAIT);
  });

  it('a pre-existing identity on a VM is used without any ARM write and stays after its pod is gone', async () => {
    const ns = await w().namespace('preexisting-vm');
    const used = await boundIdentity(ns, 'vm-before');
    const vm = await addVm(w(), 'aks-prevm-0', { identities: [used.id] });
    const writesBefore = (await armWriteLog(w())).length;

    await w().createPod(ns, 'app', 'aks-prevm-0', 'vm-before');
    await waitAssigned(ns, 'app', ['vm-before']);
    const [assigned] = await w().assignedFor(ns, 'app');
    expect(assigned?.metadata.annotations?.[PREEXISTING_ANNOTATION]).toBe('true');

    // A control pod with an identity MIC owns, on the same VM: its removal proves MIC did reconcile the VM.
    const control = await boundIdentity(ns, 'vm-control');
    await w().createPod(ns, 'control', 'aks-prevm-0', 'vm-control');
    await waitAssigned(ns, 'control', ['vm-control']);

    await w().deletePod(ns, 'app');
    await w().deletePod(ns, 'control');
    await waitNoAssigned(ns, 'app');
    await waitNoAssigned(ns, 'control');
    await vi.waitFor(() => { expect(computeIdentity(w(), vm).userAssigned).toEqual([used.id]); }, WAIT);
    expect(computeIdentity(w(), vm).type).toBe('UserAssigned');
    // Only the control identity's add and remove touched ARM.
    expect((await armWriteLog(w())).length - writesBefore).toBe(2);
    expect(control.id).not.toBe(used.id);
  });
});

describe('edits', () => {
  it('an AzureIdentity pointed at another Azure identity: AAIs carry the new spec, the new ID is assigned and the old one removed', async () => {
    const ns = await w().namespace('edit-identity');
    const first = await boundIdentity(ns, 'editable');
    const second = await w().azureIdentity('editable-next');
    const node = w().scaleSetNodes[0]!;
    await w().createPod(ns, 'a', node, 'editable');
    await w().createPod(ns, 'b', w().scaleSetNodes[1]!, 'editable');
    await waitAssigned(ns, 'a', ['editable']);
    await waitAssigned(ns, 'b', ['editable']);
    expect(worldScaleSet()).toContain(first.id);

    await patchCustom(w(), 'azureidentities', ns, 'editable', { spec: { resourceID: second.id, clientID: second.clientId } });
    await vi.waitFor(async () => {
      for (const pod of ['a', 'b']) {
        const [entry] = await w().assignedFor(ns, pod);
        expect(entry?.spec.azureIdentityRef?.spec).toMatchObject({ resourceID: second.id, clientID: second.clientId });
        expect(entry?.status?.status).toBe('Assigned');
      }
      expect(worldScaleSet()).toContain(second.id.toLowerCase());
      expect(worldScaleSet()).not.toContain(first.id);
    }, WAIT);

    await w().deletePod(ns, 'a');
    await w().deletePod(ns, 'b');
    await waitNoAssigned(ns, 'a');
    await waitNoAssigned(ns, 'b');
    await vi.waitFor(() => { expect(worldScaleSet()).not.toContain(second.id.toLowerCase()); }, WAIT);
  });

  it('a binding whose selector changes: pods that no longer match lose their AAI and the identity; pods that now match get it', async () => {
    const ns = await w().namespace('edit-binding');
    const identity = await boundIdentity(ns, 'rebind', 'old-selector');
    await w().createPod(ns, 'old', w().scaleSetNodes[0]!, 'old-selector');
    await w().createPod(ns, 'new', w().vmNodes[0]!, 'new-selector');
    await waitAssigned(ns, 'old', ['rebind']);
    expect(await w().assignedFor(ns, 'new')).toEqual([]);
    expect(worldScaleSet()).toContain(identity.id);

    await patchCustom(w(), 'azureidentitybindings', ns, 'rebind-binding', { spec: { selector: 'new-selector' } });
    await waitNoAssigned(ns, 'old');
    await waitAssigned(ns, 'new', ['rebind']);
    await vi.waitFor(() => { expect(worldScaleSet()).not.toContain(identity.id); }, WAIT);
    expect(w().vmIdentities(w().vmNodes[0]!)).toContain(identity.id);

    await w().deletePod(ns, 'old');
    await w().deletePod(ns, 'new');
    await waitNoAssigned(ns, 'new');
    await vi.waitFor(() => { expect(w().vmIdentities(w().vmNodes[0]!)).not.toContain(identity.id); }, WAIT);
  });

  it('a pod relabelled to another selector: old AAI Unassigned then deleted, new one Assigned; label removed: AAI and identity gone', async () => {
    const ns = await w().namespace('relabel');
    const one = await boundIdentity(ns, 'one');
    const two = await boundIdentity(ns, 'two');
    const history = await recordAssigned(w());
    try {
      await w().createPod(ns, 'app', w().scaleSetNodes[2]!, 'one');
      await waitAssigned(ns, 'app', ['one']);

      await w().labelPod(ns, 'app', 'two');
      await waitAssigned(ns, 'app', ['two']);
      await vi.waitFor(() => {
        expect(history.states('default', `app-${ns}-one`)).toEqual(['Created', 'Assigned', 'Unassigned', 'deleted']);
        expect(worldScaleSet()).not.toContain(one.id);
      }, WAIT);
      expect(worldScaleSet()).toContain(two.id);

      await w().labelPod(ns, 'app', null);
      await waitNoAssigned(ns, 'app');
      await vi.waitFor(() => {
        expect(history.states('default', `app-${ns}-two`)).toEqual(['Created', 'Assigned', 'Unassigned', 'deleted']);
        expect(worldScaleSet()).not.toContain(two.id);
      }, WAIT);
    } finally {
      history.stop();
    }
    await w().deletePod(ns, 'app');
  });
});

describe('pods and nodes going away', () => {
  it('a deleted node whose VM still exists: its AAIs are cleaned up and the identity leaves that VM (upstream left it there)', async () => {
    const ns = await w().namespace('node-gone');
    const identity = await boundIdentity(ns, 'node-gone');
    const vm = await addVm(w(), 'aks-doomed-0');
    await w().createPod(ns, 'a', 'aks-doomed-0', 'node-gone');
    await w().createPod(ns, 'b', 'aks-doomed-0', 'node-gone');
    await waitAssigned(ns, 'a', ['node-gone']);
    await waitAssigned(ns, 'b', ['node-gone']);
    expect(computeIdentity(w(), vm).userAssigned).toEqual([identity.id]);
    const writes = (await armWriteLog(w())).length;

    // The node goes; the pod garbage collector would then delete its pods (there is none here: we do).
    await w().deleteNode('aks-doomed-0');
    await w().deletePod(ns, 'a');
    await w().deletePod(ns, 'b');
    await waitNoAssigned(ns, 'a');
    await waitNoAssigned(ns, 'b');
    // The AAIs recorded their VM, so MIC still finds it and removes the identity nobody needs: one write.
    await vi.waitFor(() => { expect(computeIdentity(w(), vm).userAssigned).toEqual([]); }, WAIT);
    expect((await armWriteLog(w())).length).toBe(writes + 1);
  });

  it('a deleted node whose VM is gone too: its AAIs are cleaned up without any ARM write', async () => {
    const ns = await w().namespace('vm-gone');
    await boundIdentity(ns, 'vm-gone');
    const vm = await addVm(w(), 'aks-doomed-1');
    await w().createPod(ns, 'a', 'aks-doomed-1', 'vm-gone');
    await waitAssigned(ns, 'a', ['vm-gone']);
    const writes = (await armWriteLog(w())).length;

    // As a scale-in does it: the VM goes first, then its Node object. (The other order lets MIC start a
    // removal on a VM that then vanishes mid-write, which is another scenario and races this test.)
    expect(w().sim.store.deleteCompute(vm)).toBe(true);
    await w().deleteNode('aks-doomed-1');
    await w().deletePod(ns, 'a');
    await waitNoAssigned(ns, 'a');
    expect((await armWriteLog(w())).length).toBe(writes);
  });

  it('a pod that finished (Succeeded) loses its AAI and the identity is removed', async () => {
    const ns = await w().namespace('finished');
    const identity = await boundIdentity(ns, 'job');
    await w().createPod(ns, 'job', w().scaleSetNodes[1]!, 'job');
    await waitAssigned(ns, 'job', ['job']);
    expect(worldScaleSet()).toContain(identity.id);

    await w().setPodPhase(ns, 'job', 'Succeeded');
    await waitNoAssigned(ns, 'job');
    await vi.waitFor(() => { expect(worldScaleSet()).not.toContain(identity.id); }, WAIT);
    await w().deletePod(ns, 'job');
  });

  it('an AAI deleted by a user while its pod runs is recreated (not left Terminating) and still removed with its pod', async () => {
    const ns = await w().namespace('user-delete');
    const identity = await boundIdentity(ns, 'keep');
    await w().createPod(ns, 'app', w().scaleSetNodes[0]!, 'keep');
    await waitAssigned(ns, 'app', ['keep']);
    const name = `app-${ns}-keep`;
    const before = await getAssigned(w(), 'default', name);
    const writes = (await armWriteLog(w())).length;

    await deleteAssigned(w(), 'default', name);
    await vi.waitFor(async () => {
      const now = await getAssigned(w(), 'default', name);
      expect(now?.metadata.uid).toBeDefined();
      expect(now?.metadata.uid).not.toBe(before?.metadata.uid);
      expect(now?.metadata.deletionTimestamp).toBeUndefined();
      expect(now?.status?.status).toBe('Assigned');
      expect(now?.metadata.annotations?.[PREEXISTING_ANNOTATION]).toBeUndefined();
    }, WAIT);
    expect(worldScaleSet()).toContain(identity.id);
    expect((await armWriteLog(w())).length).toBe(writes);

    // MIC still owns the identity: it goes with the pod.
    await w().deletePod(ns, 'app');
    await waitNoAssigned(ns, 'app');
    await vi.waitFor(() => { expect(worldScaleSet()).not.toContain(identity.id); }, WAIT);
  });
});

describe('ARM economy', () => {
  it('30 pods with one identity on 3 scale-set nodes and a VM: at most one ARM write per target, each way', async () => {
    const ns = await w().namespace('wave');
    const identity = await boundIdentity(ns, 'wave');
    const nodes = [...w().scaleSetNodes, ...w().vmNodes];
    const pods = Array.from({ length: 30 }, (_, index) => `p${index}`);
    const writes = (await armWriteLog(w())).length;

    await Promise.all(pods.map((pod, index) => w().createPod(ns, pod, nodes[index % nodes.length]!, 'wave')));
    await vi.waitFor(async () => {
      const assigned = (await w().assignedIdentities()).filter((entry) => entry.spec.podNamespace === ns);
      expect(assigned).toHaveLength(30);
      expect(assigned.every((entry) => entry.status?.status === 'Assigned')).toBe(true);
    }, WAIT);
    expect(worldScaleSet()).toContain(identity.id);
    expect(w().vmIdentities(w().vmNodes[0]!)).toContain(identity.id);
    expect((await armWriteLog(w())).length - writes).toBe(2);

    await Promise.all(pods.map((pod) => w().deletePod(ns, pod)));
    await vi.waitFor(async () => {
      expect((await w().assignedIdentities()).filter((entry) => entry.spec.podNamespace === ns)).toEqual([]);
      expect(worldScaleSet()).not.toContain(identity.id);
      expect(w().vmIdentities(w().vmNodes[0]!)).not.toContain(identity.id);
    }, WAIT);
    expect((await armWriteLog(w())).length - writes).toBeLessThanOrEqual(4);
  });
});

describe('readiness gate', () => {
  it('a gated pod: condition False (IdentityNotAssigned) while its AAI is Created, True once Assigned; no binding: NoMatchingBinding', async () => {
    const ns = await w().namespace('gate');
    await boundIdentity(ns, 'gated');
    const condition = 'aadpodidentity.k8s.io/identity-ready';
    // A slow scale-set update, so the pod waits long enough to be seen waiting.
    await w().admin.setOptions({ lroDurationMs: { vmss: 4_000 } });
    try {
      await w().createPod(ns, 'app', w().scaleSetNodes[2]!, 'gated', { readinessGate: true });
      await vi.waitFor(async () => {
        expect(await w().podCondition(ns, 'app', condition)).toMatchObject({ status: 'False', reason: 'IdentityNotAssigned' });
        expect(await statesOf(ns, 'app')).toEqual([{ identity: 'gated', state: 'Created' }]);
      }, WAIT);
      await waitAssigned(ns, 'app', ['gated']);
      await vi.waitFor(async () => { expect(await w().podCondition(ns, 'app', condition)).toMatchObject({ status: 'True', reason: 'IdentityAssigned' }); }, WAIT);
    } finally {
      await w().admin.setOptions({ lroDurationMs: { vmss: 600 } });
    }

    await w().createPod(ns, 'lonely', w().scaleSetNodes[2]!, 'no-such-selector', { readinessGate: true });
    await vi.waitFor(async () => { expect(await w().podCondition(ns, 'lonely', condition)).toMatchObject({ status: 'False', reason: 'NoMatchingBinding' }); }, WAIT);
    expect(await w().assignedFor(ns, 'lonely')).toEqual([]);

    await w().deletePod(ns, 'app');
    await w().deletePod(ns, 'lonely');
    await waitNoAssigned(ns, 'app');
  });
});

describe('legacy manifests', () => {
  it('PascalCase AzureIdentity/AzureIdentityBinding (pre-1.6 casing) work end to end', async () => {
    const ns = await w().namespace('legacy');
    const azure = await w().azureIdentity('azureaccess');
    const example = readFileSync(new URL('legacy/identity-pascal-case.yaml', upstreamExamplesDir()), 'utf8');
    expect(example).toMatch(/ResourceID: /);
    const manifest = example
      .replace(/ResourceID: .*/, `ResourceID: ${azure.id}`)
      .replace(/ClientID: 77777777-7777-7777-7777-777777777777/, `ClientID: ${azure.clientId}`)
      .replace(/TenantId: .*/, `TenantId: ${w().sim.tenantId}`)
      .replace(/"Namespace":"default"/, `"Namespace":"${ns}"`)
      .replace(/^metadata:$/gm, `metadata:\n  namespace: ${ns}`);
    await applyYaml(w(), manifest);

    await w().createPod(ns, 'reader', w().scaleSetNodes[0]!, 'azure-access');
    await w().createPod(ns, 'sp', w().scaleSetNodes[0]!, 'sp-access');
    await waitAssigned(ns, 'reader', ['azureaccess']);
    await waitAssigned(ns, 'sp', ['spaccess']);
    expect(worldScaleSet()).toContain(azure.id.toLowerCase());
    const [reader] = await w().assignedFor(ns, 'reader');
    // Embedded with the current field names, as NMI (ours or upstream's) reads them.
    expect(reader?.spec.azureIdentityRef?.spec).toMatchObject({ type: 0, resourceID: azure.id, clientID: azure.clientId });
    expect(reader?.spec.azureBindingRef?.spec).toMatchObject({ azureIdentity: 'azureaccess', selector: 'azure-access' });
    const [sp] = await w().assignedFor(ns, 'sp');
    expect(sp?.spec.azureIdentityRef?.spec).toMatchObject({ type: 1, clientID: '88888888-8888-8888-8888-888888888888' });

    await w().deletePod(ns, 'reader');
    await w().deletePod(ns, 'sp');
    await waitNoAssigned(ns, 'reader');
    await waitNoAssigned(ns, 'sp');
    await vi.waitFor(() => { expect(worldScaleSet()).not.toContain(azure.id.toLowerCase()); }, WAIT);
  });
});

describe('namespaced identities (annotation, without --forceNamespaced)', () => {
  it('an identity annotated Behavior: namespaced serves only pods of its namespace; its AAIs live there; others stay cluster-wide', async () => {
    const home = await w().namespace('ns-home');
    const away = await w().namespace('ns-away');
    const fenced = await w().azureIdentity('fenced');
    await w().createIdentity(home, 'fenced', { type: 0, resourceID: fenced.id, clientID: fenced.clientId }, { 'aadpodidentity.k8s.io/Behavior': 'namespaced' });
    await w().createBinding(home, 'fenced-binding', 'fenced', 'fenced');
    const open = await boundIdentity(home, 'open');

    await w().createPod(away, 'intruder', w().scaleSetNodes[1]!, 'fenced');
    await w().createPod(away, 'visitor', w().scaleSetNodes[1]!, 'open');
    await w().createPod(home, 'local', w().scaleSetNodes[1]!, 'fenced');
    await waitAssigned(home, 'local', ['fenced']);
    await waitAssigned(away, 'visitor', ['open']);
    expect(await w().assignedFor(away, 'intruder')).toEqual([]);
    const [local] = await w().assignedFor(home, 'local');
    expect(local?.metadata.namespace).toBe(home);
    const [visitor] = await w().assignedFor(away, 'visitor');
    expect(visitor?.metadata.namespace).toBe('default');
    expect(worldScaleSet()).toEqual(expect.arrayContaining([fenced.id.toLowerCase(), open.id]));

    for (const [namespace, pod] of [[away, 'intruder'], [away, 'visitor'], [home, 'local']] as const) await w().deletePod(namespace, pod);
    await waitNoAssigned(home, 'local');
    await waitNoAssigned(away, 'visitor');
    await vi.waitFor(() => { expect(worldScaleSet()).not.toContain(fenced.id.toLowerCase()); }, WAIT);
  });
});

describe('more than 150 identity changes', () => {
  it('160 identities on one scale set: split into PATCHes of ≤150 changes, all Assigned; then all removed, type None', async () => {
    const ns = await w().namespace('many');
    const count = 160;
    const scaleSet = await addScaleSet(w(), 'aks-many-34567890-vmss');
    const names = Array.from({ length: count }, (_, index) => `many-${String(index).padStart(3, '0')}`);
    const azure: { id: string; clientId: string }[] = [];
    for (let start = 0; start < count; start += 20) {
      azure.push(...(await Promise.all(names.slice(start, start + 20).map((name) => w().azureIdentity(name)))));
    }
    const objects = names.flatMap((name, index) => [
      { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentity', metadata: { name, namespace: ns }, spec: { type: 0, resourceID: azure[index]!.id, clientID: azure[index]!.clientId } },
      { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', metadata: { name: `${name}-binding`, namespace: ns }, spec: { azureIdentity: name, selector: 'many' } },
    ]);
    await applyAll(w(), objects);

    await w().createPod(ns, 'app', scaleSet.nodes[0]!, 'many');
    await vi.waitFor(async () => {
      const states = await statesOf(ns, 'app');
      expect(states).toHaveLength(count);
      expect(states.filter((entry) => entry.state !== 'Assigned')).toEqual([]);
    }, { timeout: 60_000, interval: 250 });
    const expected = azure.map((entry) => entry.id.toLowerCase()).sort();
    expect(computeIdentity(w(), scaleSet.id)).toMatchObject({ type: 'UserAssigned', userAssigned: expected });
    const adds = await armWriteLog(w(), 'aks-many-34567890-vmss');
    expect(adds.length).toBeGreaterThanOrEqual(2);
    // The simulator refuses a PATCH with more than 150 changes (FailedIdentityOperation): none was refused.
    expect(adds.filter((entry) => entry.status >= 300)).toEqual([]);

    await w().deletePod(ns, 'app');
    await vi.waitFor(async () => {
      expect(await w().assignedFor(ns, 'app')).toEqual([]);
      expect(computeIdentity(w(), scaleSet.id)).toEqual({ type: 'None', systemAssignedPrincipalId: undefined, userAssigned: [] });
    }, { timeout: 60_000, interval: 250 });
    const all = await armWriteLog(w(), 'aks-many-34567890-vmss');
    expect(all.length - adds.length).toBeGreaterThanOrEqual(2);
    expect(all.filter((entry) => entry.status >= 300)).toEqual([]);
  });
});
