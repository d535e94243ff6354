/**
 * The doctor's decisions, as a pure function of a {@link DoctorSnapshot}: walks the chain MIC and NMI
 * walk (label → bindings → identity → namespaced rules → exception → AzureAssignedIdentity → node →
 * VM/VMSS → role → NMI) with the same cores they use (computeDesiredState, isExcepted, isMicPod,
 * effectiveAssignedState), and says for each link whether it holds, and if not, what to do.
 * @module
 */
import {
  AssignedIdentityState,
  effectiveAssignedState,
  IdentityType,
  isNamespacedIdentity,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
} from '../../api/index.ts';
import { targetResourceId, type ComputeTargetRef } from '../../azure/provider-id.ts';
import { computeDesiredState, indexBindingsBySelector, podWantsIdentity } from '../../mic/desired.ts';
import { objectKey, type DesiredAssignment, type DesiredProblem, type PodInfo } from '../../mic/model.ts';
import { isExcepted, isMicPod } from '../../nmi/identity/select-identity.ts';
import { credentialVerdict, federatedAssignments, issuerVerdict } from './federated-steps.ts';
import {
  COMPONENT_LABEL,
  CONTRIBUTOR_ROLE_ID,
  MANAGED_IDENTITY_OPERATOR_ROLE_ID,
  OWNER_ROLE_ID,
  type DiagnoseOptions,
  type DoctorReport,
  type DoctorSnapshot,
  type DoctorStep,
  type EventInfo,
  type StepId,
  type StepStatus,
} from './model.ts';

const TITLES: Readonly<Record<StepId, string>> = {
  pod: 'Pod is scheduled and running',
  label: 'Pod has the aadpodidbinding label',
  bindings: 'AzureIdentityBindings select the pod',
  identity: "AzureIdentity exists in the binding's namespace",
  namespaced: 'Namespaced rules allow the identity',
  exception: 'No AzurePodIdentityException lets the pod bypass NMI',
  assigned: 'AzureAssignedIdentity exists and is Assigned',
  node: 'Node runs on an Azure VM / VMSS',
  'compute-identity': 'Identity is on the VM / VMSS',
  role: 'Cluster identity may assign the identity (Managed Identity Operator)',
  issuer: "Cluster's service-account issuer serves its discovery document and keys",
  'federated-credential': "Federated identity credential trusts NMI's token",
  nmi: 'NMI is healthy on the node',
  events: 'Recent Events',
};

const nameOf = (object: { metadata: { namespace?: string | undefined; name?: string | undefined } }): string =>
  `${object.metadata.namespace ?? ''}/${object.metadata.name ?? ''}`;

const lines = (...parts: readonly (string | undefined | false)[]): string => parts.filter((part): part is string => typeof part === 'string' && part !== '').join('\n');

/** Status of a step that dropped some candidates: fail when none remain, warn when some do. */
const partial = (dropped: number, remaining: number): StepStatus => (dropped === 0 ? 'ok' : remaining === 0 ? 'fail' : 'warn');

/** The role IDs that include `Microsoft.ManagedIdentity/userAssignedIdentities/assign/action`. */
const ASSIGNING_ROLES = new Map([
  [MANAGED_IDENTITY_OPERATOR_ROLE_ID, 'Managed Identity Operator'],
  [OWNER_ROLE_ID, 'Owner'],
  [CONTRIBUTOR_ROLE_ID, 'Contributor'],
]);

/** Whether a role assignment at `scope` applies to `resourceId` (same resource or an ancestor; case-insensitive). */
export function scopeCovers(scope: string, resourceId: string): boolean {
  const parent = scope.toLowerCase().replace(/\/+$/, '');
  const child = resourceId.toLowerCase();
  return parent === '' || child === parent || child.startsWith(`${parent}/`);
}

const roleGuid = (roleDefinitionId: string): string => (roleDefinitionId.split('/').filter((part) => part !== '').pop() ?? '').toLowerCase();

/** Events newest first (by last occurrence), at most `max`. */
export function recentEvents(events: readonly EventInfo[], max: number): EventInfo[] {
  return [...events].sort((a, b) => (a.lastTimestamp < b.lastTimestamp ? 1 : a.lastTimestamp > b.lastTimestamp ? -1 : 0)).slice(0, max);
}

/** The pod as MIC would evaluate it once scheduled (so an unscheduled pod still gets the rest of the chain checked). */
function asCandidate(pod: PodInfo): PodInfo {
  return { ...pod, nodeName: pod.nodeName === '' ? '(unscheduled)' : pod.nodeName, phase: 'Running' };
}

/** The desired assignments and problems of the pod (from MIC's own computation). */
export function desiredFor(snapshot: DoctorSnapshot): { assignments: DesiredAssignment[]; problems: readonly DesiredProblem[] } {
  const desired = computeDesiredState(
    { pods: [asCandidate(snapshot.pod.info)], nodes: new Map(), identities: snapshot.identities, bindings: snapshot.bindings, assigned: new Map() },
    { forceNamespaced: snapshot.mode.forceNamespaced },
  );
  return { assignments: [...desired.assignments.values()], problems: desired.problems };
}

/** Type-0 identities the pod should get (what must be on the VM / VMSS), by lower-cased resource ID. */
export function userAssignedResourceIds(snapshot: DoctorSnapshot): string[] {
  const ids = desiredFor(snapshot)
    .assignments.map((assignment) => assignment.resourceIdKey)
    .filter((id): id is string => id !== undefined);
  return [...new Set(ids)].sort();
}

/** Federated identities (type 3) the pod should get: what gather() reads the issuer and credentials for. */
export function federatedIdentities(snapshot: DoctorSnapshot): AzureIdentity[] {
  return federatedAssignments(desiredFor(snapshot).assignments).map((assignment) => assignment.identity);
}

export function diagnose(snapshot: DoctorSnapshot, options: DiagnoseOptions = {}): DoctorReport {
  const { pod } = snapshot;
  const info = pod.info;
  const podName = `${info.namespace}/${info.name}`;
  const steps: DoctorStep[] = [];
  const add = (id: StepId, status: StepStatus, detail: string, fix?: string): void => {
    steps.push({ id, title: TITLES[id], status, detail, ...(fix === undefined || status === 'ok' || status === 'skip' ? {} : { fix }) });
  };
  const skipRest = (ids: readonly StepId[], why: string): void => {
    for (const id of ids) if (!steps.some((step) => step.id === id)) add(id, 'skip', why);
  };

  // 1. The pod itself.
  if (info.nodeName === '') {
    add('pod', 'fail', `pod ${podName} is not scheduled to a node yet (phase ${info.phase || 'unknown'}); the rest of the chain is evaluated as if it were`, `kubectl -n ${info.namespace} describe pod ${info.name}  # see why the scheduler has not placed it`);
  } else if (!podWantsIdentity({ ...info, bindingLabel: 'x' })) {
    add('pod', 'fail', `pod ${podName} has finished (phase ${info.phase}); finished pods get no identity`, 'Start a new pod; identities are assigned to running pods only.');
  } else {
    add('pod', 'ok', `pod ${podName} runs on node ${info.nodeName} (phase ${info.phase || 'unknown'})`);
  }

  // 2. Label.
  const label = info.bindingLabel;
  const selectorsHere = [...new Set(snapshot.bindings.filter((binding) => binding.metadata.namespace === info.namespace).map((binding) => binding.spec.selector))].filter((selector) => selector !== '').sort();
  const suggest = selectorsHere.length > 0 ? ` (bindings in namespace ${info.namespace} select: ${selectorsHere.join(', ')})` : '';
  if (label === undefined || label === '') {
    add(
      'label',
      'fail',
      label === undefined ? `pod ${podName} has no aadpodidbinding label` : `pod ${podName} has an empty aadpodidbinding label`,
      `Add the label to the pod template: metadata.labels.aadpodidbinding: <selector of an AzureIdentityBinding>${suggest}.`,
    );
    skipRest(['bindings', 'identity', 'namespaced', 'assigned', 'node', 'compute-identity', 'role'], 'needs the aadpodidbinding label');
  } else {
    add('label', 'ok', `aadpodidbinding=${label}`);
  }

  const desired = desiredFor(snapshot);
  const matching = label === undefined || label === '' ? [] : (indexBindingsBySelector(snapshot.bindings).get(label) ?? []);

  // 3. Bindings.
  if (label !== undefined && label !== '') {
    if (matching.length === 0) {
      const near = snapshot.bindings.filter((binding) => binding.spec.selector !== label && binding.spec.selector.trim().toLowerCase() === label.trim().toLowerCase());
      add(
        'bindings',
        'fail',
        lines(
          `no AzureIdentityBinding in any namespace has spec.selector "${label}" (selectors compare by exact string equality)`,
          ...near.map((binding) => `binding ${nameOf(binding)} has selector "${binding.spec.selector}": differs only in case or spaces`),
        ),
        near.length > 0
          ? `Make the binding's spec.selector and the pod's aadpodidbinding label identical ("${label}").`
          : `Create an AzureIdentityBinding with spec.selector: "${label}", or relabel the pod${suggest}.`,
      );
      skipRest(['identity', 'namespaced', 'assigned', 'node', 'compute-identity', 'role'], 'needs a matching AzureIdentityBinding');
    } else {
      add('bindings', 'ok', matching.map((binding) => `binding ${nameOf(binding)} → AzureIdentity "${binding.spec.azureIdentity}"`).join('\n'));
    }
  }

  if (matching.length > 0) identitySteps(snapshot, matching, desired, add, skipRest);

  // 6. Exceptions (NMI's decision, independent of the bindings).
  const excepting = snapshot.exceptions.filter((exception) => isExcepted({ namespace: info.namespace, name: info.name, labels: pod.labels }, [exception]));
  const micSelf = snapshot.micNamespace !== undefined && isMicPod({ namespace: info.namespace, replicaSet: pod.replicaSet }, snapshot.micNamespace);
  if (excepting.length > 0) {
    add(
      'exception',
      'fail',
      excepting.map((exception) => `AzurePodIdentityException ${nameOf(exception)} matches the pod (podLabels ${JSON.stringify(exception.spec.podLabels)}): NMI passes its token requests to the node's own identity, never to its pod identity`).join('\n'),
      `If the pod should use its pod identity, delete the exception or change its podLabels: kubectl -n ${info.namespace} delete azurepodidentityexception ${excepting[0]?.metadata.name ?? ''}`,
    );
  } else if (micSelf) {
    add('exception', 'fail', `pod ${podName} is owned by ReplicaSet ${pod.replicaSet ?? ''} in MIC's namespace: NMI treats it as MIC and gives it the node's identity`, 'Run the application in another namespace, or under a name that does not start with "mic".');
  } else {
    add('exception', 'ok', snapshot.exceptions.length === 0 ? `no AzurePodIdentityException in namespace ${info.namespace}` : `${snapshot.exceptions.length} exception(s) in namespace ${info.namespace}, none matches the pod`);
  }

  // 11. NMI on the node.
  if (info.nodeName === '') {
    add('nmi', 'skip', 'pod not scheduled');
  } else {
    const healthy = snapshot.nmiPods.filter((nmi) => nmi.phase === 'Running' && nmi.ready === 'True');
    if (healthy.length > 0) {
      add('nmi', 'ok', `NMI pod ${healthy.map((nmi) => `${nmi.namespace}/${nmi.name}`).join(', ')} is Running and Ready on node ${info.nodeName}`);
    } else if (snapshot.nmiPods.length === 0) {
      add(
        'nmi',
        'fail',
        `NMI down on node ${info.nodeName}: no NMI pod (label ${COMPONENT_LABEL}=nmi) runs there; token requests from the pod are not intercepted`,
        `kubectl get daemonset -A -l ${COMPONENT_LABEL}=nmi  # is it installed? do its nodeSelector/tolerations cover node ${info.nodeName}?`,
      );
    } else {
      add(
        'nmi',
        'fail',
        `NMI down on node ${info.nodeName}: ${snapshot.nmiPods.map((nmi) => `${nmi.namespace}/${nmi.name} is ${nmi.phase || 'in no phase'}, Ready=${nmi.ready ?? 'absent'}${nmi.readyMessage === undefined ? '' : ` (${nmi.readyMessage})`}`).join('; ')}`,
        snapshot.nmiPods.map((nmi) => `kubectl -n ${nmi.namespace} describe pod ${nmi.name}; kubectl -n ${nmi.namespace} logs ${nmi.name}`).join('\n'),
      );
    }
  }

  // 12. Events.
  const events = recentEvents(snapshot.events, options.maxEvents ?? 5);
  const warnings = events.filter((event) => event.type === 'Warning');
  add(
    'events',
    warnings.length > 0 ? 'warn' : 'ok',
    events.length === 0 ? 'no recent Events about the pod, its AzureAssignedIdentities or bindings' : events.map(formatEvent).join('\n'),
    warnings.length > 0 ? 'Read the Warning events above; MIC\'s logs have the full ARM error.' : undefined,
  );

  const order: readonly StepId[] = ['pod', 'label', 'bindings', 'identity', 'namespaced', 'exception', 'assigned', 'node', 'compute-identity', 'role', 'issuer', 'federated-credential', 'nmi', 'events'];
  const sorted = [...steps].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  const firstFailure = sorted.find((step) => step.status === 'fail')?.id;
  return {
    pod: { namespace: info.namespace, name: info.name, node: info.nodeName },
    mode: snapshot.mode,
    steps: sorted,
    firstFailure,
    healthy: firstFailure === undefined,
    events,
  };
}

export function formatEvent(event: EventInfo): string {
  const count = event.count > 1 ? ` (x${event.count})` : '';
  return `${event.lastTimestamp || '?'} ${event.type} ${event.involvedKind}/${event.involvedName} "${event.reason}"${count}: ${event.message}`;
}

type Add = (id: StepId, status: StepStatus, detail: string, fix?: string) => void;

/** Steps 4, 5 and 7–10: from the matching bindings to the cloud. */
function identitySteps(
  snapshot: DoctorSnapshot,
  matching: readonly AzureIdentityBinding[],
  desired: { assignments: DesiredAssignment[]; problems: readonly DesiredProblem[] },
  add: Add,
  skipRest: (ids: readonly StepId[], why: string) => void,
): void {
  const info = snapshot.pod.info;
  const problemsOf = (kind: DesiredProblem['kind']): DesiredProblem[] => desired.problems.filter((problem) => problem.kind === kind);

  // 4. Identity found (and well formed).
  const missing = problemsOf('identity-not-found');
  const invalid = problemsOf('invalid-resource-id');
  const found = matching.length - missing.length;
  const identityLines: string[] = [];
  for (const binding of matching) {
    const namespace = binding.metadata.namespace ?? '';
    const identity = snapshot.identities.get(objectKey(namespace, binding.spec.azureIdentity));
    if (identity === undefined) {
      const elsewhere = [...snapshot.identities.values()].filter((candidate) => candidate.metadata.name === binding.spec.azureIdentity).map(nameOf);
      identityLines.push(
        `binding ${nameOf(binding)}: AzureIdentity ${namespace}/${binding.spec.azureIdentity} does not exist` +
          (elsewhere.length > 0 ? ` (found ${elsewhere.join(', ')}: identities are looked up in the binding's namespace only)` : ''),
      );
    } else {
      identityLines.push(`binding ${nameOf(binding)}: AzureIdentity ${nameOf(identity)} (${describeIdentity(identity)})`);
    }
  }
  identityLines.push(...invalid.map((problem) => problem.message));
  const firstMissing = missing[0];
  const identityFix =
    firstMissing !== undefined
      ? `Create AzureIdentity "${matching.find((binding) => nameOf(binding) === `${firstMissing.binding.namespace}/${firstMissing.binding.name}`)?.spec.azureIdentity ?? ''}" in namespace ${firstMissing.binding.namespace}, or point the binding's spec.azureIdentity at an existing one there.`
      : 'Set spec.resourceID to /subscriptions/<sub>/resourcegroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>.';
  add('identity', partial(missing.length + invalid.length, found - invalid.length), identityLines.join('\n'), identityFix);
  if (found - invalid.length <= 0) {
    skipRest(['namespaced', 'assigned', 'node', 'compute-identity', 'role'], 'needs an AzureIdentity');
    return;
  }

  // 5. Namespaced rules.
  const mismatch = problemsOf('namespace-mismatch');
  const checked = found - invalid.length;
  const namespacedIdentities = matching
    .map((binding) => snapshot.identities.get(objectKey(binding.metadata.namespace ?? '', binding.spec.azureIdentity)))
    .filter((identity): identity is AzureIdentity => identity !== undefined && isNamespacedIdentity(identity, snapshot.mode.forceNamespaced));
  const modeLine = `namespaced mode ${snapshot.mode.forceNamespaced ? 'on' : 'off'}: ${snapshot.mode.detail}`;
  add(
    'namespaced',
    partial(mismatch.length, checked - mismatch.length),
    lines(
      modeLine,
      namespacedIdentities.length === 0
        ? 'no matching identity is namespaced'
        : mismatch.length === 0
          ? `namespaced identities ${namespacedIdentities.map(nameOf).join(', ')} are in the pod's namespace ${info.namespace}`
          : '',
      ...mismatch.map((problem) => problem.message),
    ),
    mismatch.length > 0
      ? `Put the pod, the binding and the identity in one namespace (here: create AzureIdentity and AzureIdentityBinding in ${info.namespace})${snapshot.mode.forceNamespaced ? ', or turn namespaced mode off (MIC: --forceNamespaced / FORCENAMESPACED)' : ', or remove the aadpodidentity.k8s.io/Behavior: namespaced annotation'}.`
      : undefined,
  );
  const duplicates = problemsOf('duplicate-name');
  if (desired.assignments.length === 0) {
    skipRest(['assigned', 'node', 'compute-identity', 'role'], 'no identity survives the namespaced rules');
    return;
  }

  // 7. AzureAssignedIdentities.
  const aaiLines: string[] = duplicates.map((problem) => problem.message);
  let assignedCount = 0;
  const notAssigned: string[] = [];
  for (const assignment of desired.assignments) {
    const aai = snapshot.assigned.find((entry) => entry.metadata.namespace === assignment.namespace && entry.metadata.name === assignment.name);
    const key = `${assignment.namespace}/${assignment.name}`;
    if (aai === undefined) {
      const elsewhere = snapshot.assigned.find((entry) => entry.metadata.name === assignment.name);
      aaiLines.push(
        elsewhere === undefined
          ? `AzureAssignedIdentity ${key} does not exist: MIC has not acted on this pod (is MIC running and leading?)`
          : `AzureAssignedIdentity ${key} does not exist, but ${nameOf(elsewhere)} does: MIC runs with namespaced mode ${snapshot.mode.forceNamespaced ? 'off' : 'on'}, unlike what doctor assumed (${snapshot.mode.detail}); rerun with --namespaced=${String(!snapshot.mode.forceNamespaced)}`,
      );
      notAssigned.push(key);
      continue;
    }
    const raw = aai.status?.status;
    const state = effectiveAssignedState(raw);
    const node = aai.spec.nodename !== '' && info.nodeName !== '' && aai.spec.nodename !== info.nodeName ? ` — recorded for node ${aai.spec.nodename}, the pod runs on ${info.nodeName}` : '';
    if (state === AssignedIdentityState.Assigned) {
      assignedCount++;
      aaiLines.push(`AzureAssignedIdentity ${key} is ${raw === '' || raw === undefined ? 'Assigned (legacy, no state)' : 'Assigned'}${node}`);
      continue;
    }
    notAssigned.push(key);
    const warning = latestWarning(snapshot.events, aai, assignment);
    aaiLines.push(
      `AzureAssignedIdentity ${key} is stuck in ${state}${node}` +
        (state === AssignedIdentityState.Created ? ': MIC has not got the identity onto the node\'s VM / VMSS' : ': the assignment is being removed') +
        (warning === undefined ? '' : `\n  last Warning: "${warning.reason}": ${warning.message}`),
    );
  }
  add(
    'assigned',
    partial(notAssigned.length, assignedCount),
    aaiLines.join('\n'),
    notAssigned.length > 0
      ? lines(
          'Check MIC: kubectl get pods -A -l app.kubernetes.io/component=mic; kubectl logs <the leader MIC pod>.',
          'An assignment stuck in Created is almost always ARM refusing MIC: MIC\'s identity needs "Managed Identity Operator" on the identity (or its resource group) and "Virtual Machine Contributor" on the node resource group; see the role step below.',
        )
      : undefined,
  );

  // Federated identities: the issuer Entra ID checks NMI's token against, and the identity's trust in it.
  const federated = federatedAssignments(desired.assignments);
  if (federated.length > 0) {
    const issuer = issuerVerdict(snapshot.federation);
    add('issuer', issuer.status, issuer.detail, issuer.fix);
    const credential = credentialVerdict(snapshot, federated);
    add('federated-credential', credential.status, credential.detail, credential.fix);
  }

  // 8–10. The cloud side, for user-assigned identities only.
  const userAssigned = desired.assignments.filter((assignment) => assignment.resourceIdKey !== undefined);
  if (userAssigned.length === 0) {
    const why = federated.length > 0 ? 'only federated or service-principal identities: nothing to assign to the VM / VMSS' : 'only service-principal identities: nothing to assign to the VM / VMSS';
    skipRest(['node', 'compute-identity', 'role'], why);
    return;
  }
  const node = snapshot.node;
  if (info.nodeName === '') {
    skipRest(['node', 'compute-identity'], 'pod not scheduled');
  } else if (node === undefined) {
    add('node', 'fail', `Node ${info.nodeName} does not exist`, `kubectl get node ${info.nodeName}`);
    skipRest(['compute-identity'], 'needs the Node');
  } else if (node.compute === undefined) {
    add(
      'node',
      'fail',
      `Node ${node.name} has spec.providerID ${JSON.stringify(node.providerId ?? '')}, not an Azure VM or VMSS instance: MIC cannot assign identities to it`,
      'Run the pod on an Azure node (azure:///subscriptions/…/virtualMachines/… or …/virtualMachineScaleSets/…/virtualMachines/…), or use a service-principal identity.',
    );
    skipRest(['compute-identity'], 'needs an Azure node');
  } else {
    const compute = node.compute;
    add('node', 'ok', `Node ${node.name} → ${compute.kind === 'vm' ? 'VM' : `VMSS instance ${compute.instanceId ?? ''} of`} ${targetResourceId(compute)}`);
    computeStep(snapshot, compute, userAssigned, add);
  }
  roleStep(snapshot, userAssigned, add);
}

function describeIdentity(identity: AzureIdentity): string {
  switch (identity.spec.type) {
    case IdentityType.UserAssignedMSI:
      return `user-assigned identity ${identity.spec.resourceID ?? '(no resourceID)'}`;
    case IdentityType.ServicePrincipal:
      return `service principal ${identity.spec.clientID ?? ''} with a client secret`;
    case IdentityType.ServicePrincipalCertificate:
      return `service principal ${identity.spec.clientID ?? ''} with a certificate`;
    case IdentityType.FederatedIdentity:
      return `federated identity ${identity.spec.clientID ?? ''}${identity.spec.resourceID === undefined ? '' : ` (${identity.spec.resourceID})`}, reached with NMI's service-account token`;
  }
}

/** The newest Warning about this AAI, its pod or its binding. */
function latestWarning(events: readonly EventInfo[], aai: AzureAssignedIdentity, assignment: DesiredAssignment): EventInfo | undefined {
  const binding = assignment.binding.metadata;
  const about = (event: EventInfo): boolean =>
    (event.involvedKind === 'AzureAssignedIdentity' && event.involvedName === aai.metadata.name && event.namespace === aai.metadata.namespace) ||
    (event.involvedKind === 'AzureIdentityBinding' && event.involvedName === binding.name && event.namespace === binding.namespace && event.message.includes(assignment.name)) ||
    (event.involvedKind === 'Pod' && event.involvedName === assignment.podName && event.namespace === assignment.podNamespace);
  return recentEvents(events.filter((event) => event.type === 'Warning' && about(event)), 1)[0];
}

function azureUnavailable(snapshot: DoctorSnapshot): string | undefined {
  const azure = snapshot.azure;
  return azure.kind === 'read' ? undefined : azure.reason;
}

function computeStep(snapshot: DoctorSnapshot, target: ComputeTargetRef, userAssigned: readonly DesiredAssignment[], add: Add): void {
  const where = `${target.kind === 'vm' ? 'VM' : 'VMSS'} ${target.name}`;
  const howToCheck =
    target.kind === 'vm'
      ? `az vm identity show -g ${target.resourceGroup} -n ${target.name} --subscription ${target.subscriptionId}`
      : `az vmss identity show -g ${target.resourceGroup} -n ${target.name} --subscription ${target.subscriptionId}`;
  const unavailable = azureUnavailable(snapshot);
  if (snapshot.azure.kind === 'skipped') {
    add('compute-identity', 'skip', snapshot.azure.reason);
    return;
  }
  if (unavailable !== undefined || snapshot.azure.kind !== 'read' || snapshot.azure.compute === undefined) {
    add('compute-identity', 'unknown', `cannot read ${where} from ARM: ${unavailable ?? 'not read'}`, `Check by hand: ${howToCheck}`);
    return;
  }
  const read = snapshot.azure.compute;
  if (read.kind === 'error') {
    add(
      'compute-identity',
      'unknown',
      `reading ${where} failed: ${read.message}`,
      read.statusCode === 403
        ? `The credential doctor uses needs read access (e.g. Reader) on ${targetResourceId(target)}; or check by hand: ${howToCheck}`
        : `Check by hand: ${howToCheck}`,
    );
    return;
  }
  const present = new Set(read.identities.map((id) => id.toLowerCase()));
  const absent = userAssigned.filter((assignment) => !present.has(assignment.resourceIdKey ?? ''));
  const there = userAssigned.length - absent.length;
  const assignCommand = (id: string): string =>
    target.kind === 'vm'
      ? `az vm identity assign -g ${target.resourceGroup} -n ${target.name} --subscription ${target.subscriptionId} --identities ${id}`
      : `az vmss identity assign -g ${target.resourceGroup} -n ${target.name} --subscription ${target.subscriptionId} --identities ${id}`;
  add(
    'compute-identity',
    partial(absent.length, there),
    userAssigned
      .map((assignment) => `${assignment.identity.spec.resourceID ?? ''} is ${present.has(assignment.resourceIdKey ?? '') ? '' : 'NOT '}on ${where}`)
      .filter((line, index, all) => all.indexOf(line) === index)
      .join('\n'),
    absent.length > 0
      ? lines(
          `MIC puts it back on its next drift check (--drift-check-interval, default 3m) if its AzureAssignedIdentity is Assigned; to fix now: ${assignCommand(absent[0]?.identity.spec.resourceID ?? '<id>')}`,
          'If it keeps disappearing, something else rewrites the identity block (an AKS upgrade, Terraform, a manual "az vmss identity remove").',
        )
      : undefined,
  );
}

function roleStep(snapshot: DoctorSnapshot, userAssigned: readonly DesiredAssignment[], add: Add): void {
  const ids = [...new Map(userAssigned.map((assignment) => [assignment.resourceIdKey ?? '', assignment.identity.spec.resourceID ?? ''])).entries()];
  const howTo = (principal: string): string =>
    ids.map(([, id]) => `az role assignment list --all --assignee ${principal} --query "[?roleDefinitionName=='Managed Identity Operator'].scope"  # must cover ${id}`).join('\n');
  if (snapshot.azure.kind === 'skipped') {
    add('role', 'skip', snapshot.azure.reason);
    return;
  }
  if (snapshot.azure.kind !== 'read') {
    add('role', 'unknown', `cannot list role assignments: ${snapshot.azure.reason}`, howTo('<client ID of the cluster identity (azure.json userAssignedIdentityID or aadClientId)>'));
    return;
  }
  const { principal, roles } = snapshot.azure;
  if (principal.kind === 'unknown') {
    add('role', 'unknown', `cannot tell which principal MIC calls ARM with: ${principal.reason}`, lines(howTo('<client ID of the cluster identity (azure.json userAssignedIdentityID or aadClientId)>'), 'or pass --cluster-principal-id <object ID>.'));
    return;
  }
  const detail: string[] = [];
  const missing: string[] = [];
  const unknown: string[] = [];
  for (const [key, id] of ids) {
    const read = roles.get(key);
    if (read === undefined || read.kind === 'error') {
      unknown.push(id);
      detail.push(`role assignments on ${id} could not be listed${read === undefined ? '' : `: ${read.message}`}`);
      continue;
    }
    const granting = read.assignments.filter((assignment) => ASSIGNING_ROLES.has(roleGuid(assignment.roleDefinitionId)) && scopeCovers(assignment.scope, key));
    if (granting.length === 0) {
      missing.push(id);
      detail.push(`principal ${principal.principalId} (${principal.source}) has no Managed Identity Operator role covering ${id}`);
    } else {
      detail.push(granting.map((assignment) => `principal ${principal.principalId} has ${ASSIGNING_ROLES.get(roleGuid(assignment.roleDefinitionId)) ?? '?'} at ${assignment.scope}`).join('\n'));
    }
  }
  const status: StepStatus = missing.length > 0 ? 'fail' : unknown.length > 0 ? 'unknown' : 'ok';
  add(
    'role',
    status,
    detail.join('\n'),
    missing.length > 0
      ? `az role assignment create --role "Managed Identity Operator" --assignee-object-id ${principal.principalId} --assignee-principal-type ServicePrincipal --scope ${missing[0] ?? ''}  # or the identity's resource group`
      : unknown.length > 0
        ? lines('The credential doctor uses needs Microsoft.Authorization/roleAssignments/read on the identity (e.g. Reader); or check by hand:', howTo(principal.principalId))
        : undefined,
  );
}
