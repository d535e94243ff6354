/**
 * `pod-identity node-identity enable`: lists the VMs and scale sets of the node resource group(s),
 * enables their system-assigned identity where missing (all in parallel, each PATCH waited for), then
 * makes sure each principal has the role. One resource's failure does not stop the others; it is in
 * the summary and makes the exit code 1.
 * @module
 */
import type { VirtualMachine, VirtualMachineScaleSet } from '@azure/arm-compute';
import { parseProviderId } from '../../azure/provider-id.ts';
import { rawRequest } from '../../kube/raw-client.ts';
import { describeError } from '../../lib/errors.ts';
import { AzureCommandError, describedCall } from '../azure/arm-error.ts';
import { resourceGroupScope } from '../azure/resource-ids.ts';
import { ensureRoleAssignment, resolveRole, type ResolvedRole } from '../azure/role-assignments.ts';
import { openAzureSession, type AzureSession } from '../azure/session.ts';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CommandIo } from '../command.ts';
import { loadCliKubeAccess } from '../shared/kube-config.ts';
import { createProgress, type Progress } from '../shared/progress.ts';
import { reportFailures } from '../shared/report.ts';
import { ENABLE_HELP, parseEnableArgs, type EnableOptions } from './flags.ts';
import { groupsOfNodes, planNodeIdentities, renderTable, type ComputeView, type NodeRow, type NodeStep } from './plan.ts';

const PREFIX = 'pod-identity node-identity enable';
const COMPUTE_WRITERS = ['Virtual Machine Contributor', 'Contributor'];

function computeView(kind: 'vm' | 'vmss', resourceGroup: string, resource: VirtualMachine | VirtualMachineScaleSet): ComputeView {
  return { kind, name: resource.name ?? '', resourceGroup, id: resource.id ?? '', identityType: resource.identity?.type, principalId: resource.identity?.principalId };
}

/** The node resource groups: the flag, the cloud config's, else those of the cluster's nodes. */
async function nodeGroups(options: EnableOptions, session: AzureSession, progress: Progress): Promise<string[]> {
  const fromConfig = options.nodeResourceGroup ?? session.config?.resourceGroup;
  if (fromConfig !== undefined) return [fromConfig];
  progress.start('finding the node resource group from the cluster nodes');
  const kubeConfig = loadCliKubeAccess(options.kubeconfig, options.context);
  const list = (await rawRequest(kubeConfig, { method: 'GET', path: '/api/v1/nodes' })) as { items?: { spec?: { providerID?: string } }[] };
  const targets = (list.items ?? []).map((node) => parseProviderId(node.spec?.providerID)).filter((target) => target !== undefined);
  const groups = groupsOfNodes(targets);
  const foreign = groups.find((group) => group.subscriptionId.toLowerCase() !== session.subscriptionId.toLowerCase());
  if (foreign !== undefined) throw new UsageError(`nodes run in subscription ${foreign.subscriptionId}, not ${session.subscriptionId}: give --subscription`);
  if (groups.length === 0) throw new UsageError('no node has an Azure providerID: give --node-resource-group or --cloudconfig');
  progress.done(`node resource group${groups.length > 1 ? 's' : ''}: ${groups.map((group) => group.resourceGroup).join(', ')}`);
  return groups.map((group) => group.resourceGroup);
}

async function listCompute(session: AzureSession, group: string): Promise<ComputeView[]> {
  return describedCall({ action: `list VMs and scale sets of resource group ${group}`, neededRoles: ['Reader', ...COMPUTE_WRITERS], scope: resourceGroupScope(session.subscriptionId, group) }, async () => {
    const found: ComputeView[] = [];
    for await (const vm of session.compute.virtualMachines.list(group)) found.push(computeView('vm', group, vm));
    for await (const vmss of session.compute.virtualMachineScaleSets.list(group)) found.push(computeView('vmss', group, vmss));
    return found;
  });
}

/** Enables the system identity where the plan says so; resolves to the principal ID. */
async function enableOne(session: AzureSession, step: NodeStep, pollIntervalMs: number, signal: AbortSignal): Promise<string> {
  if (step.action === 'keep') return step.principalId;
  const { resource } = step;
  const call = { action: `enable the system-assigned identity of ${resource.kind === 'vm' ? 'VM' : 'scale set'} ${resource.id}`, neededRoles: COMPUTE_WRITERS, scope: resourceGroupScope(session.subscriptionId, resource.resourceGroup) };
  const updated = await describedCall(call, async () => {
    const options = { updateIntervalInMs: pollIntervalMs, abortSignal: signal };
    return resource.kind === 'vm'
      ? await session.compute.virtualMachines.update(resource.resourceGroup, resource.name, { identity: { type: step.type } }, options)
      : await session.compute.virtualMachineScaleSets.update(resource.resourceGroup, resource.name, { identity: { type: step.type } }, options);
  });
  const principalId = updated.identity?.principalId;
  if (principalId === undefined) throw new AzureCommandError('request', `${call.action}: ARM returned no principalId`, {});
  return principalId;
}

function message(error: unknown): string {
  return error instanceof AzureCommandError ? error.message : describeError(error);
}

async function enable(options: EnableOptions, io: CommandIo, progress: Progress): Promise<number> {
  const session = await openAzureSession({ cloudconfig: options.cloudconfig, subscription: options.subscription, useCloudconfigCredential: options.useCloudconfigCredential, env: process.env });
  const groups = await nodeGroups(options, session, progress);
  const scopeOf = (group: string): string => options.scope ?? resourceGroupScope(session.subscriptionId, group);

  progress.start(`resolving role ${JSON.stringify(options.role)}`);
  const role: ResolvedRole = await resolveRole(session.authorization, options.role, scopeOf(groups[0] ?? ''));
  progress.done(`role "${role.name}" (${role.id})`);

  progress.start(`listing VMs and scale sets in ${groups.join(', ')}`);
  const resources = (await Promise.all(groups.map((group) => listCompute(session, group)))).flat();
  if (resources.length === 0) throw new AzureCommandError('not-found', `no VM or scale set in resource group ${groups.join(', ')}`, {});
  const steps = planNodeIdentities(resources);
  const toEnable = steps.filter((step) => step.action === 'enable').length;
  progress.done(`${resources.length} resources, ${toEnable} without a system-assigned identity`);

  let finished = 0;
  if (toEnable > 0) progress.start(`enabling the system-assigned identity on ${toEnable} resource${toEnable === 1 ? '' : 's'}`);
  const enabled = await Promise.allSettled(
    steps.map(async (step) => {
      const principalId = await enableOne(session, step, options.pollIntervalMs, io.shutdown);
      if (step.action === 'enable') progress.update(`${++finished}/${toEnable} done, last: ${step.resource.name}`);
      return principalId;
    }),
  );
  if (toEnable > 0) progress.done();

  progress.start(`assigning "${role.name}" to ${steps.length} principal${steps.length === 1 ? '' : 's'}`);
  let assignedCount = 0;
  const rows: NodeRow[] = await Promise.all(
    steps.map(async (step, index): Promise<NodeRow> => {
      const base = { kind: step.resource.kind, name: step.resource.name, resourceGroup: step.resource.resourceGroup };
      const outcome = enabled[index];
      if (outcome === undefined || outcome.status === 'rejected') {
        return { ...base, systemIdentity: 'failed', principalId: undefined, roleAssignment: 'skipped', error: message(outcome?.reason) };
      }
      const systemIdentity = step.action === 'enable' ? 'enabled' : 'already enabled';
      const spec = { principalId: outcome.value, roleDefinitionId: role.id, roleName: role.name, scope: scopeOf(step.resource.resourceGroup), purpose: `node identity of ${step.resource.name}` };
      try {
        const result = await ensureRoleAssignment(session.authorization, spec, { timeoutMs: options.waitTimeoutMs, signal: io.shutdown, progress });
        progress.update(`${++assignedCount}/${steps.length} done`);
        return { ...base, systemIdentity, principalId: outcome.value, roleAssignment: result.status };
      } catch (error) {
        return { ...base, systemIdentity, principalId: outcome.value, roleAssignment: 'failed', error: message(error) };
      }
    }),
  );
  const failed = rows.filter((row) => row.error !== undefined).length;
  if (failed > 0) progress.fail(`${failed} of ${rows.length} resources failed`);
  else progress.done();

  io.stdout.write(options.output === 'json' ? `${JSON.stringify({ role: role.name, roleDefinitionId: role.id, resources: rows.map((row) => ({ ...row, scope: scopeOf(row.resourceGroup) })) }, null, 2)}\n` : renderTable(rows));
  return failed > 0 ? EXIT_FAILURE : EXIT_OK;
}

export async function runNodeIdentityEnable(argv: readonly string[], io: CommandIo): Promise<number> {
  const progress = createProgress(io.stderr);
  return reportFailures(PREFIX, io, progress, async () => {
    const options = parseEnableArgs(argv);
    if (options === undefined) {
      io.stdout.write(ENABLE_HELP);
      return EXIT_OK;
    }
    return enable(options, io, progress);
  });
}
