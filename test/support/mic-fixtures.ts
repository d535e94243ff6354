/**
 * Builders of MIC inputs for unit tests: identities, bindings, pods, nodes and AAIs with the
 * defaults of a small AKS-like cluster.
 */
import type { AzureAssignedIdentity, AzureIdentity, AzureIdentityBinding } from '../../src/api/index.ts';
import type { DesiredAssignment, NodeInfo, PodInfo } from '../../src/mic/model.ts';
import { parseProviderId } from '../../src/azure/provider-id.ts';

export const SUB = '00000000-0000-0000-0000-000000000001';
export const RG = 'MC_demo';

export function identityId(name: string, group = RG): string {
  return `/subscriptions/${SUB}/resourcegroups/${group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
}

export function identity(name: string, options: { namespace?: string; type?: 0 | 1 | 2 | 3; resourceID?: string; clientID?: string; namespaced?: boolean; resourceVersion?: string } = {}): AzureIdentity {
  const type = options.type ?? 0;
  // Type 3 (federated): clientID and tenantID; a resourceID only when given.
  const federated = { clientID: options.clientID ?? `${name}-client`, tenantID: 'tenant', ...(options.resourceID === undefined ? {} : { resourceID: options.resourceID }) };
  return {
    apiVersion: 'aadpodidentity.k8s.io/v1',
    kind: 'AzureIdentity',
    metadata: {
      name,
      namespace: options.namespace ?? 'default',
      resourceVersion: options.resourceVersion ?? '1',
      ...(options.namespaced === true ? { annotations: { 'aadpodidentity.k8s.io/Behavior': 'namespaced' } } : {}),
    },
    spec:
      type === 0
        ? { type, resourceID: options.resourceID ?? identityId(name), clientID: options.clientID ?? `${name}-client` }
        : type === 3
          ? { type, ...federated }
          : { type, clientID: options.clientID ?? `${name}-client`, tenantID: 'tenant', clientPassword: { name: `${name}-secret`, namespace: options.namespace ?? 'default' } },
  };
}

export function binding(name: string, identityName: string, selector: string, namespace = 'default'): AzureIdentityBinding {
  return {
    apiVersion: 'aadpodidentity.k8s.io/v1',
    kind: 'AzureIdentityBinding',
    metadata: { name, namespace, resourceVersion: '1' },
    spec: { azureIdentity: identityName, selector },
  };
}

export function pod(name: string, options: { namespace?: string; node?: string; label?: string; phase?: string; readinessGate?: boolean } = {}): PodInfo {
  return {
    namespace: options.namespace ?? 'default',
    name,
    uid: `uid-${name}`,
    resourceVersion: '1',
    nodeName: options.node ?? 'node-0',
    phase: options.phase ?? 'Running',
    bindingLabel: options.label,
    readinessGate: options.readinessGate ?? false,
    identityReady: undefined,
    identityReadyReason: undefined,
  };
}

export function vmssNode(name: string, scaleSet = 'pool1-vmss', instance = '0'): NodeInfo {
  return { name, compute: parseProviderId(`azure:///subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet}/virtualMachines/${instance}`) };
}

export function vmNode(name: string): NodeInfo {
  return { name, compute: parseProviderId(`azure:///subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${name}`) };
}

/** The AAI MIC writes for a desired assignment, in `state`. */
export function assignedFrom(desired: DesiredAssignment, state: 'Created' | 'Assigned' | 'Unassigned' | '', annotations: Record<string, string> = {}): AzureAssignedIdentity {
  return {
    apiVersion: 'aadpodidentity.k8s.io/v1',
    kind: 'AzureAssignedIdentity',
    metadata: { name: desired.name, namespace: desired.namespace, labels: { nodename: desired.nodeName }, annotations },
    spec: {
      azureIdentityRef: desired.identity,
      azureBindingRef: desired.binding,
      pod: desired.podName,
      podNamespace: desired.podNamespace,
      nodename: desired.nodeName,
    },
    status: { status: state, availableReplicas: 1 },
  };
}
