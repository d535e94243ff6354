/**
 * Helpers for MIC behaviour tests (test/integration/mic/behaviour*.test.ts): extra VMs and scale
 * sets with their Nodes, the simulator's view of a target's identity block, ARM write logs, azure.json
 * edits, bulk applies, and a watch that records every state an AzureAssignedIdentity went through.
 * Free functions over a {@link MicWorld}, kept apart from it so its own helpers can grow independently.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { readAzureAssignedIdentity, type AzureAssignedIdentity } from '../../src/api/index.ts';
import { Informer } from '../../src/kube/informer.ts';
import { rawLister, rawRequest } from '../../src/kube/raw-client.ts';
import type { RequestLogEntry } from '../../src/sim/http/request-log.ts';
import type { ResourceIdentityType } from '../../src/sim/state/model.ts';
import { NODE_GROUP, SUBSCRIPTION, type MicWorld } from './mic-world.ts';

const GROUP_PATH = '/apis/aadpodidentity.k8s.io/v1';

/** The identity block of a VM or scale set as the simulator holds it (user-assigned IDs lower-cased, sorted). */
export interface ComputeIdentityView {
  readonly type: ResourceIdentityType;
  /** Principal ID of the system-assigned identity, if any. */
  readonly systemAssignedPrincipalId: string | undefined;
  readonly userAssigned: string[];
}

/** Every state AAIs went through, as seen by a watch. */
export interface AssignedHistory {
  /** States of AAI `namespace/name` in order, consecutive duplicates collapsed: `Created`, `Assigned`, `Unassigned`, `Terminating`, `deleted`. */
  states(namespace: string, name: string): string[];
  stop(): void;
}

/** Applies many objects with one kubectl call (a `List`). */
export async function applyAll(world: MicWorld, objects: readonly Record<string, unknown>[]): Promise<void> {
  await world.apply({ apiVersion: 'v1', kind: 'List', items: objects });
}

/** Applies YAML text as given (e.g. legacy PascalCase manifests). */
export async function applyYaml(world: MicWorld, text: string): Promise<void> {
  const file = path.join(world.dir, `${randomUUID()}.yaml`);
  writeFileSync(file, text);
  const result = await world.plane.kubectl(['apply', '-f', file]);
  if (result.code !== 0) throw new Error(`kubectl apply: ${result.stderr}`);
}

/** JSON merge patch of a custom resource (`plural`: azureidentities, azureidentitybindings). */
export async function patchCustom(world: MicWorld, plural: string, namespace: string, name: string, patch: Record<string, unknown>): Promise<void> {
  await rawRequest(world.kc, { method: 'PATCH', path: `${GROUP_PATH}/namespaces/${namespace}/${plural}/${name}`, contentType: 'application/merge-patch+json', body: patch });
}

/** Deletes an AAI as a user would (`kubectl delete`): MIC's finalizer keeps it Terminating until MIC lets go. */
export async function deleteAssigned(world: MicWorld, namespace: string, name: string): Promise<void> {
  await rawRequest(world.kc, { method: 'DELETE', path: `${GROUP_PATH}/namespaces/${namespace}/azureassignedidentities/${name}` });
}

/** Raw AAI object (undefined when absent), to look at metadata such as uid and deletionTimestamp. */
export async function getAssigned(world: MicWorld, namespace: string, name: string): Promise<AzureAssignedIdentity | undefined> {
  try {
    return readAzureAssignedIdentity(await rawRequest(world.kc, { method: 'GET', path: `${GROUP_PATH}/namespaces/${namespace}/azureassignedidentities/${name}` }));
  } catch (error) {
    if (String(error).includes('404')) return undefined;
    throw error;
  }
}

/** Seeds a scale set in the node resource group and creates Nodes for its instances; returns its ID and node names. */
export async function addScaleSet(
  world: MicWorld,
  name: string,
  options: { instances?: number; identities?: readonly string[]; systemAssigned?: boolean } = {},
): Promise<{ id: string; nodes: string[] }> {
  const scaleSet = await world.admin.seedVmss({
    subscriptionId: SUBSCRIPTION,
    resourceGroup: NODE_GROUP,
    name,
    instances: options.instances ?? 1,
    ...(options.identities === undefined ? {} : { identities: options.identities }),
    ...(options.systemAssigned === undefined ? {} : { systemAssigned: options.systemAssigned }),
  });
  const nodes: string[] = [];
  for (const instance of scaleSet.instances) {
    await world.createNode(
      instance.computerName,
      `azure:///subscriptions/${SUBSCRIPTION}/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet.name}/virtualMachines/${instance.instanceId}`,
    );
    nodes.push(instance.computerName);
  }
  return { id: scaleSet.id, nodes };
}

/** Seeds a standalone VM and creates its Node (node name = VM name); returns the VM's resource ID. */
export async function addVm(world: MicWorld, name: string, options: { identities?: readonly string[]; systemAssigned?: boolean } = {}): Promise<string> {
  const vm = await world.admin.seedVm({
    subscriptionId: SUBSCRIPTION,
    resourceGroup: NODE_GROUP,
    name,
    ...(options.identities === undefined ? {} : { identities: options.identities }),
    ...(options.systemAssigned === undefined ? {} : { systemAssigned: options.systemAssigned }),
  });
  await world.createNode(name, `azure:///subscriptions/${SUBSCRIPTION}/resourceGroups/${NODE_GROUP}/providers/Microsoft.Compute/virtualMachines/${name}`);
  return vm.id;
}

/** The identity block of a VM or scale set (by resource ID) in the simulator. */
export function computeIdentity(world: MicWorld, resourceId: string): ComputeIdentityView {
  const resource = world.sim.store.getCompute(resourceId);
  if (resource === undefined) throw new Error(`no VM or scale set ${resourceId} in the simulator`);
  return {
    type: resource.identity.type,
    systemAssignedPrincipalId: resource.identity.systemAssigned?.principalId,
    userAssigned: resource.identity.userAssignedIdentities.map((id) => id.toLowerCase()).sort(),
  };
}

/** ARM writes (PATCH/PUT) on compute resources whose path contains `pathContains` (case-insensitive; default all). */
export async function armWriteLog(world: MicWorld, pathContains = ''): Promise<RequestLogEntry[]> {
  const { entries } = await world.admin.requests({ service: 'arm' });
  const needle = pathContains.toLowerCase();
  return entries.filter(
    (entry) => (entry.method === 'PATCH' || entry.method === 'PUT') && /\/microsoft\.compute\//i.test(entry.path) && entry.path.toLowerCase().includes(needle),
  );
}

/** Merges `fields` into the world's azure.json, atomically (by rename, as a mounted Secret changes); `null` removes a field. */
export function updateAzureJson(world: MicWorld, fields: Record<string, unknown>): void {
  const current = JSON.parse(readFileSync(world.azureJsonPath, 'utf8')) as Record<string, unknown>;
  const next: Record<string, unknown> = { ...current, ...fields };
  for (const [key, value] of Object.entries(fields)) if (value === null) Reflect.deleteProperty(next, key);
  const temporary = `${world.azureJsonPath}.${randomUUID()}.tmp`;
  writeFileSync(temporary, JSON.stringify(next, null, 2));
  renameSync(temporary, world.azureJsonPath);
}

/** Watches all AAIs and records every state each went through (for "Unassigned, then deleted" assertions). */
export async function recordAssigned(world: MicWorld): Promise<AssignedHistory> {
  const listPath = `${GROUP_PATH}/azureassignedidentities`;
  const history = new Map<string, string[]>();
  const push = (key: string, state: string): void => {
    const states = history.get(key) ?? [];
    if (states.at(-1) !== state) states.push(state);
    history.set(key, states);
  };
  const keyOf = (entry: AzureAssignedIdentity): string => `${entry.metadata.namespace ?? ''}/${entry.metadata.name ?? ''}`;
  const informer = new Informer<AzureAssignedIdentity>({
    name: 'test-aai-history',
    kubeConfig: world.kc,
    source: { path: listPath, list: rawLister(world.kc, listPath) },
    project: (raw) => readAzureAssignedIdentity(raw),
    keyOf,
    resourceVersionOf: (entry) => entry.metadata.resourceVersion ?? '',
    logger: pino({ level: 'silent' }),
  });
  informer.onChange((event, entry) => {
    if (event === 'delete') push(keyOf(entry), 'deleted');
    else push(keyOf(entry), entry.metadata.deletionTimestamp == null ? (entry.status?.status ?? '') : 'Terminating');
  });
  const stop = new AbortController();
  void informer.run(stop.signal);
  await informer.waitForSync(stop.signal);
  return {
    states: (namespace, name) => [...(history.get(`${namespace}/${name}`) ?? [])],
    stop: () => {
      stop.abort();
    },
  };
}
