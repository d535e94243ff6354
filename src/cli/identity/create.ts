/**
 * `pod-identity identity create`: the ARM and Kubernetes calls, in an order that fails early (bad
 * flags, kubeconfig, the cluster's issuer with `--federated`, role name and cluster identity are
 * checked before anything is created) and resumes on a re-run (every step looks before it writes).
 * @module
 */
import type { Identity } from '@azure/arm-msi';
import { armCodeOf, AzureCommandError, describedCall, explainArmError, statusOf } from '../azure/arm-error.ts';
import { resourceGroupScope, userAssignedIdentityId } from '../azure/resource-ids.ts';
import { ensureRoleAssignment, resolveRole } from '../azure/role-assignments.ts';
import { openAzureSession, type AzureSession } from '../azure/session.ts';
import { EXIT_OK, UsageError, type CommandIo } from '../command.ts';
import { readClusterIssuer } from '../federation/cluster-issuer.ts';
import { expectedCredential, type ExpectedCredential } from '../federation/credential.ts';
import { chooseIssuer } from '../federation/issuer.ts';
import type { KubeAccess } from '../../kube/access.ts';
import { loadCliKubeAccess } from '../shared/kube-config.ts';
import { createProgress, type Progress } from '../shared/progress.ts';
import { reportFailures } from '../shared/report.ts';
import { clusterPrincipalSource, resolveClusterPrincipal } from './cluster-principal.ts';
import { assignmentSpecs, planIdentity, type IdentityView } from './create-plan.ts';
import { CREATE_HELP, parseCreateArgs, type CreateOptions } from './create-flags.ts';
import { ensureFederatedCredential } from './federated-credential.ts';
import { serverSideApply } from './kube.ts';
import { identityManifests, renderManifests } from './manifests.ts';

const PREFIX = 'pod-identity identity create';
const IDENTITY_WRITERS = ['Managed Identity Contributor', 'Contributor'];

function view(identity: Identity, fallbackId: string): IdentityView {
  if (identity.clientId === undefined || identity.principalId === undefined) {
    throw new AzureCommandError('request', `ARM returned identity ${fallbackId} without clientId/principalId`, {});
  }
  return { id: identity.id ?? fallbackId, clientId: identity.clientId, principalId: identity.principalId, location: identity.location, tenantId: identity.tenantId };
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

/** The API server is needed to apply, and to read the issuer when `--federated` comes without `--issuer`. */
function loadKubeFor(options: CreateOptions): KubeAccess | undefined {
  const forIssuer = options.federated !== undefined && options.federated.issuer === undefined;
  if (!options.apply && !forIssuer) return undefined;
  try {
    return loadCliKubeAccess(options.kubeconfig, options.context);
  } catch (error) {
    if (!(error instanceof UsageError) || options.apply) throw error;
    throw new UsageError(`${error.message} (--federated reads the cluster's service-account issuer through it; or give --issuer URL)`, { cause: error });
  }
}

/** With `--federated`: what the credential must trust (the issuer from `--issuer` or the API server). */
async function federatedTrust(options: CreateOptions, kubeConfig: KubeAccess | undefined, io: CommandIo, progress: Progress): Promise<ExpectedCredential | undefined> {
  const federated = options.federated;
  if (federated === undefined) return undefined;
  if (federated.issuer !== undefined) return expectedCredential(federated.issuer, federated.subject);
  progress.start("reading the cluster's service-account issuer from the API server");
  const chosen = chooseIssuer(undefined, kubeConfig === undefined ? undefined : await readClusterIssuer(kubeConfig, io.shutdown));
  progress.done(`cluster issuer ${chosen.issuer}`);
  return expectedCredential(chosen.issuer, federated.subject);
}

async function createOrReuse(options: CreateOptions, io: CommandIo, progress: Progress): Promise<number> {
  // Everything that can be checked without changing Azure, first.
  const kubeConfig = loadKubeFor(options);
  const session = await openAzureSession({ cloudconfig: options.cloudconfig, subscription: options.subscription, useCloudconfigCredential: options.useCloudconfigCredential, env: process.env });
  // A federated identity is never assigned to a VM / VMSS: MIC needs no grant on it.
  const source = options.skipOperatorGrant || options.federated !== undefined ? undefined : clusterPrincipalSource(options.clusterPrincipalId, session.config);
  const id = userAssignedIdentityId(session.subscriptionId, options.resourceGroup, options.name);
  const waitOptions = { timeoutMs: options.waitTimeoutMs, signal: io.shutdown, progress };
  const trust = await federatedTrust(options, kubeConfig, io, progress);

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

  let tenantId: string | undefined;
  if (trust !== undefined) {
    tenantId = identity.tenantId ?? session.config?.tenantId;
    if (tenantId === undefined || tenantId === '') throw new AzureCommandError('request', `ARM returned identity ${id} without its tenantId; give --cloudconfig with "tenantId"`, {});
    await ensureFederatedCredential({ msi: session.msi, resourceGroup: options.resourceGroup, identityName: options.name, identityId: identity.id, credentialName: options.federated?.credentialName }, trust, progress);
    progress.note('federated identity: no "Managed Identity Operator" grant for the cluster identity (MIC never assigns it to a VM / VMSS)');
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

  const objects = identityManifests({ name: options.kubeName, namespace: options.namespace, selector: options.selector, resourceId: identity.id, clientId: identity.clientId, federatedTenantId: tenantId });
  if (!options.apply || kubeConfig === undefined) {
    io.stdout.write(renderManifests(objects, options.output));
    return EXIT_OK;
  }
  for (const object of objects) {
    progress.start(`applying ${object.kind} ${object.metadata.namespace}/${object.metadata.name}`);
    await serverSideApply(kubeConfig, object, io.shutdown);
    progress.done();
    io.stdout.write(`${object.kind.toLowerCase()}.aadpodidentity.k8s.io/${object.metadata.name} serverside-applied\n`);
  }
  const how = trust === undefined ? '' : ` through NMI's service-account token (${trust.subject})`;
  progress.note(`pods in namespace ${options.namespace} labelled aadpodidbinding=${options.selector} now get identity ${options.name}${how}`);
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
