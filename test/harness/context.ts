import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig, V1Namespace, V1ObjectMeta } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { aggregateClusterRoles } from '../../src/devenv/aggregate.ts';
import { readAuditEvents, type AuditEvent } from '../../src/devenv/audit.ts';
import type { ControlPlaneInfo } from './description.ts';
import type { RunResult } from '../../src/devenv/exec.ts';
import * as identities from '../../src/devenv/identities.ts';
import { runHelm, runKubectl, type KubectlOptions } from '../../src/devenv/kubectl.ts';

// Helpers for test files. The ControlPlane object lives in the global-setup process; tests get its
// serialisable description through inject() and work from that.

export function controlPlane(): ControlPlaneInfo {
  return inject('controlPlane');
}

/** A client-node KubeConfig for `kubeconfigPath` (default: admin, system:masters). */
export function kubeConfig(kubeconfigPath = controlPlane().kubeconfigPath): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

/** kubectl as admin (or as `options.kubeconfigPath`). Resolves with the exit code; does not throw on failure. */
export function kubectl(args: string[], options?: KubectlOptions): Promise<RunResult> {
  return runKubectl(controlPlane(), args, options);
}

/** helm against the shared plane, with its cache/config/data dirs inside the plane's dir. */
export function helm(args: string[], options?: KubectlOptions): Promise<RunResult> {
  return runHelm(controlPlane(), args, options);
}

/**
 * Creates a fresh namespace and returns its name. There is no namespace controller, so deleted
 * namespaces would stay Terminating: every test gets its own instead of cleaning up.
 */
export async function uniqueNamespace(prefix = 'test'): Promise<string> {
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'test';
  const name = `${base}-${randomBytes(4).toString('hex')}`;
  // client-node's models are classes; building instances keeps the typed-lint rules satisfied.
  const body = new V1Namespace();
  body.metadata = new V1ObjectMeta();
  body.metadata.name = name;
  body.metadata.labels = { 'pod-identity.test/harness': 'true' };
  await kubeConfig().makeApiClient(CoreV1Api).createNamespace({ body });
  return name;
}

/** Kubeconfig for an x509 user with no RBAC granted. */
export function createClientCertUser(name: string, groups: string[] = []): Promise<string> {
  return identities.createClientCertUser(controlPlane(), name, groups);
}

/** Kubeconfig with a TokenRequest token for the ServiceAccount (created if missing). */
export function serviceAccountKubeconfig(namespace: string, serviceAccount: string, expirationSeconds?: number): Promise<string> {
  return identities.serviceAccountKubeconfig(controlPlane(), namespace, serviceAccount, expirationSeconds);
}

/** Audit events of the shared plane so far. */
export function auditEvents(): Promise<AuditEvent[]> {
  return readAuditEvents(controlPlane().auditLogPath);
}

/**
 * Refills aggregated ClusterRoles (admin/edit/view) after a test added `aggregate-to-*` roles: no
 * kube-controller-manager runs here to do it. Start-up already filled the built-in ones.
 */
export function fillAggregatedClusterRoles(): Promise<void> {
  return aggregateClusterRoles((args, options) => kubectl(args, options));
}
