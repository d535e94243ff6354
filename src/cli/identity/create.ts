/**
 * `pod-identity identity create`: the ARM and Kubernetes calls, in an order that fails early (bad
 * flags, kubeconfig, role name and cluster identity are checked before anything is created) and
 * resumes on a re-run (every step looks before it writes).
 * @module
 */
import type { Identity } from '@azure/arm-msi';
import { armCodeOf, AzureCommandError, describedCall, explainArmError, statusOf } from '../azure/arm-error.ts';
import { resourceGroupScope, userAssignedIdentityId } from '../azure/resource-ids.ts';
import { ensureRoleAssignment, resolveRole } from '../azure/role-assignments.ts';
import { openAzureSession, type AzureSession } from '../azure/session.ts';
import { EXIT_OK, UsageError, type CommandIo } from '../command.ts';
import { loadCliKubeAccess } from '../shared/kube-config.ts';
import { createProgress, type Progress } from '../shared/progress.ts';
import { reportFailures } from '../shared/report.ts';
import { clusterPrincipalSource, resolveClusterPrincipal } from './cluster-principal.ts';
import { assignmentSpecs, planIdentity, type IdentityView } from './create-plan.ts';
import { CREATE_HELP, parseCreateArgs, type CreateOptions } from './create-flags.ts';
import { serverSideApply } from './kube.ts';
import { identityManifests, renderManifests } from './manifests.ts';

const PREFIX = 'pod-identity identity create';
const IDENTITY_WRITERS = ['Managed Identity Contributor', 'Contributor'];

function view(identity: Identity, fallbackId: string): IdentityView {
  if (identity.clientId === undefined || identity.principalId === undefined) {
    throw new AzureCommandError('request', `ARM returned identity ${fallbackId} without clientId/principalId`, {});
  }
  return { id: identity.id ?? fallbackId, clientId: identity.clientId, principalId: identity.principalId, location: identity.location };
}

/** The identity, or undefined when it does not exist (a missing resource group is an error). */
async function readIdentity(session: AzureSession, options: CreateOptions, id: string): Promise<IdentityView | undefined> {
  try {
    return view(await session.msi.userAssignedIdentities.get(options.resourceGroup, options.name), id);
  } catch (error) {
    const code = armCodeOf(error)?.toLowerCase();
    if (statusOf(error) === 404 && code === 'resourcegroupnotfound') {
      throw new AzureCommandError('not-found', `resource group ${options.resourceGroup} does not exist in subscription ${session.subscriptionId}`, { armCode: code, statusCode: 404 }, { cause: error });
    }
    if (statusOf(error) === 404) return undefined;
    throw explainArmError(error, { action: `read identity ${id}`, neededRoles: ['Reader', ...IDENTITY_WRITERS], scope: resourceGroupScope(session.subscriptionId, options.resourceGroup) });
  }
}

export interface CreateResult {
  readonly identity: IdentityView;
  readonly identityCreated: boolean;
  readonly assignments: readonly { readonly roleName: string; readonly scope: string; readonly principalId: string; readonly status: 'created' | 'exists' }[];
}

async function createOrReuse(options: CreateOptions, io: CommandIo, progress: Progress): Promise<number> {
  // Everything that can be checked without changing Azure, first.
  const kubeConfig = options.apply ? loadCliKubeAccess(options.kubeconfig, options.context) : undefined;
  const session = await openAzureSession({ cloudconfig: options.cloudconfig, subscription: options.subscription, useCloudconfigCredential: options.useCloudconfigCredential, env: process.env });
  const source = options.skipOperatorGrant ? undefined : clusterPrincipalSource(options.clusterPrincipalId, session.config);
  const id = userAssignedIdentityId(session.subscriptionId, options.resourceGroup, options.name);
  const waitOptions = { timeoutMs: options.waitTimeoutMs, signal: io.shutdown, progress };

  let role;
  if (options.role !== undefined) {
    progress.start(`resolving role ${JSON.stringify(options.role.text)}`);
    role = { ...(await resolveRole(session.authorization, options.role.text, options.role.scope)), scope: options.role.scope };
    progress.done(`role "${role.name}" (${role.id})`);
  }

  progress.start(`looking up identity ${id}`);
  const existing = await readIdentity(session, options, id);
  const step = planIdentity(existing, options.location, session.config?.location);
  let identity: IdentityView;
  if (step.action === 'reuse') {
    identity = step.identity;
    progress.done(`identity ${options.name} exists (client ID ${identity.clientId})`);
  } else {
    progress.update(`creating in ${step.location}`);
    const created = await describedCall(
      { action: `create user-assigned identity ${id}`, neededRoles: IDENTITY_WRITERS, scope: resourceGroupScope(session.subscriptionId, options.resourceGroup) },
      () => session.msi.userAssignedIdentities.createOrUpdate(options.resourceGroup, options.name, { location: step.location, tags: { 'created-by': 'pod-identity-cli' } }),
    );
    identity = view(created, id);
    progress.done(`identity ${options.name} created (client ID ${identity.clientId}, principal ${identity.principalId})`);
  }

  let clusterPrincipalId: string | undefined;
  if (source !== undefined) {
    progress.start('finding the cluster identity');
    clusterPrincipalId = await resolveClusterPrincipal(source, session.config, { msi: session.msi, subscriptionId: session.subscriptionId, cloud: session.cloud, caPem: session.caPem });
    progress.done(`cluster identity: principal ${clusterPrincipalId}`);
  }

  for (const spec of assignmentSpecs({ subscriptionId: session.subscriptionId, identity, role, clusterPrincipalId })) {
    const who = spec.principalId === identity.principalId ? `identity ${options.name}` : 'the cluster identity';
    progress.start(`assigning "${spec.roleName}" to ${who} at ${spec.scope}`);
    const result = await ensureRoleAssignment(session.authorization, spec, waitOptions);
    progress.done(`"${spec.roleName}" for ${who} at ${spec.scope}: ${result.status === 'created' ? 'assigned' : 'already assigned'}`);
  }

  const objects = identityManifests({ name: options.kubeName, namespace: options.namespace, selector: options.selector, resourceId: identity.id, clientId: identity.clientId });
  if (kubeConfig === undefined) {
    io.stdout.write(renderManifests(objects, options.output));
    return EXIT_OK;
  }
  for (const object of objects) {
    progress.start(`applying ${object.kind} ${object.metadata.namespace}/${object.metadata.name}`);
    await serverSideApply(kubeConfig, object, io.shutdown);
    progress.done();
    io.stdout.write(`${object.kind.toLowerCase()}.aadpodidentity.k8s.io/${object.metadata.name} serverside-applied\n`);
  }
  progress.note(`pods in namespace ${options.namespace} labelled aadpodidbinding=${options.selector} now get identity ${options.name}`);
  return EXIT_OK;
}

export async function runIdentityCreate(argv: readonly string[], io: CommandIo): Promise<number> {
  const progress = createProgress(io.stderr);
  return reportFailures(PREFIX, io, progress, async () => {
    const options = parseCreateArgs(argv);
    if (options === undefined) {
      io.stdout.write(CREATE_HELP);
      return EXIT_OK;
    }
    if (options.name === '') throw new UsageError('--name is required');
    return createOrReuse(options, io, progress);
  });
}
