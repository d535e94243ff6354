/**
 * The chart and the plain manifests: `helm lint` is clean, deploy/pod-identity.yaml is exactly what the
 * chart renders with default values and applies to a real API server, bad values fail with a clear
 * message, and an aad-pod-identity style values file renders what the chart README says.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../src/devenv/binaries.ts';
import { helm, kubectl } from '../../harness/context.ts';
import { parseNmiConfig } from '../../../src/nmi/config.ts';

const CHART = path.join(repoRoot, 'charts/pod-identity');

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

async function render(args: string[]): Promise<Manifest[]> {
  const result = await helm(['template', 'pod-identity', CHART, '--namespace', 'kube-system', ...args]);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

function containerOf(manifests: Manifest[], kind: string): { args: string[]; env: { name: string; value?: string }[] } {
  const workload = manifests.find((manifest) => manifest.kind === kind);
  const spec = workload?.spec as { template: { spec: { containers: { args: string[]; env: { name: string; value?: string }[] }[] } } };
  const container = spec.template.spec.containers[0];
  if (container === undefined) throw new Error(`${kind} has no container`);
  return container;
}

describe('chart and plain manifests', () => {
  it('lints clean', async () => {
    const result = await helm(['lint', '--strict', CHART]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('deploy/pod-identity.yaml is what the chart renders with default values (scripts/render-manifests.sh)', async () => {
    const rendered = await helm(['template', 'pod-identity', CHART, '--namespace', 'kube-system', '--skip-crds']);
    const committed = readFileSync(path.join(repoRoot, 'deploy/pod-identity.yaml'), 'utf8');
    expect(committed.split('\n').filter((line) => !line.startsWith('# pod-identity ') && !line.startsWith('# (scripts/')).join('\n')).toBe(rendered.stdout);
  });

  it('the plain manifests apply to a real API server (server-side dry run)', async () => {
    const result = await kubectl(['apply', '--dry-run=server', '-f', path.join(repoRoot, 'deploy/pod-identity.yaml')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('daemonset.apps/pod-identity-nmi created (server dry run)');
    expect(result.stdout).toContain('deployment.apps/pod-identity-mic created (server dry run)');
  });

  it('bad values fail at install with a message naming the value', async () => {
    for (const [set, expected] of [
      ['mic.replicas=two', '/mic/replicas'],
      ['operationMode=bogus', '/operationMode'],
      ['nmi.probePort=http', '/nmi/probePort'],
      ['mic.immutableUserMSIs={not-a-guid}', '/mic/immutableUserMSIs/0'],
    ] as const) {
      const result = await helm(['template', 'x', CHART, '--set', set]);
      expect(result.code, set).not.toBe(0);
      expect(result.stderr, set).toContain(expected);
    }
  });

  it('an aad-pod-identity values file renders what the README says', async () => {
    const manifests = await render(['-f', path.join(CHART, 'examples/upstream-values.yaml')]);
    const mic = containerOf(manifests, 'Deployment');
    expect(mic.args).toEqual(expect.arrayContaining(['--v=4', '--log-format=json', '--immutable-user-msis=33333333-3333-3333-3333-333333333333', '--syncRetryDuration=3600s']));
    // adminsecret: credentials from the Secret, no azure.json mount.
    expect(mic.args.some((arg) => arg.startsWith('--cloudconfig'))).toBe(false);
    expect(mic.env.map((entry) => entry.name)).toEqual(expect.arrayContaining(['CLIENT_ID', 'CLIENT_SECRET', 'TENANT_ID', 'SUBSCRIPTION_ID', 'RESOURCE_GROUP']));
    expect(mic.env.find((entry) => entry.name === 'FORCENAMESPACED')?.value).toBe('true');
    const secret = manifests.find((manifest) => manifest.kind === 'Secret');
    expect(Buffer.from(secret?.data?.['ClientSecret'] ?? '', 'base64').toString()).toBe('not-a-real-secret');
    const nmi = containerOf(manifests, 'DaemonSet');
    expect(nmi.args).toEqual(
      expect.arrayContaining(['--http-probe-port=8085', '--MICNamespace=kube-system', '--ipt-update-interval-sec=30', '--retry-attempts-for-created=1', '--retry-attempts-for-assigned=1', '--find-identity-retry-interval=1', '--set-retry-after-header', '--block-instance-metadata']),
    );
    expect(manifests.find((manifest) => manifest.kind === 'PodDisruptionBudget')?.spec).toMatchObject({ minAvailable: 1 });
    expect(manifests.find((manifest) => manifest.kind === 'AzureIdentity')).toMatchObject({ metadata: { name: 'web-identity', namespace: 'web' }, spec: { type: 0, clientID: '44444444-4444-4444-4444-444444444444' } });
    expect(manifests.find((manifest) => manifest.kind === 'AzureIdentityBinding')).toMatchObject({ metadata: { name: 'web-identity-binding' }, spec: { azureIdentity: 'web-identity', selector: 'web' } });
    expect(manifests.find((manifest) => manifest.kind === 'AzurePodIdentityException')).toMatchObject({ spec: { podLabels: { 'aadpodidentity.k8s.io/exception': 'pod-identity-mic' } } });
  });

  it('NMI runs system-node-critical; the not-ready taint (opt-in) adds its flag and get/patch on nodes, nothing else', async () => {
    const nodeRules = (manifests: Manifest[]): unknown[] => {
      const role = manifests.find((manifest) => manifest.kind === 'ClusterRole' && manifest.metadata.name === 'pod-identity-nmi') as unknown as { rules: { resources: string[]; verbs: string[] }[] };
      return role.rules.filter((rule) => rule.resources.includes('nodes'));
    };
    const defaults = await render([]);
    const template = (defaults.find((manifest) => manifest.kind === 'DaemonSet')?.spec as { template: { spec: { priorityClassName?: string; tolerations?: unknown[] } } }).template.spec;
    expect(template.priorityClassName).toBe('system-node-critical');
    expect(template.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(containerOf(defaults, 'DaemonSet').args.some((arg) => arg.startsWith('--not-ready-taint'))).toBe(false);
    expect(nodeRules(defaults)).toEqual([]);
    const tainted = await render(['--set', 'nmi.notReadyTaint.enabled=true']);
    expect(containerOf(tainted, 'DaemonSet').args).toContain('--not-ready-taint=aadpodidentity.k8s.io/nmi-not-ready');
    expect(nodeRules(tainted)).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] }]);
    const bad = await helm(['template', 'x', CHART, '--set', 'nmi.notReadyTaint.key=Not A Key']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('/nmi/notReadyTaint/key');
  });

  it('keeps NMI’s filter-table guard by default; nmi.iptablesGuard=false turns it off', async () => {
    expect(containerOf(await render([]), 'DaemonSet').args.some((arg) => arg.startsWith('--ipt-guard'))).toBe(false);
    expect(containerOf(await render(['--set', 'nmi.iptablesGuard=false']), 'DaemonSet').args).toContain('--ipt-guard=false');
  });

  it('with the handover, a privileged init container sets net.ipv4.tcp_migrate_req; the NMI container stays unprivileged', async () => {
    interface PodSpec { initContainers?: { name: string; command: string[]; securityContext: { privileged?: boolean } }[]; containers: { securityContext: { privileged?: boolean; capabilities: { add: string[] } } }[] }
    const podSpec = (manifests: Manifest[]): PodSpec => (manifests.find((manifest) => manifest.kind === 'DaemonSet')?.spec as { template: { spec: PodSpec } }).template.spec;
    const defaults = podSpec(await render([]));
    expect(defaults.initContainers?.map((init) => [init.name, init.securityContext.privileged])).toEqual([['tcp-migrate-req', true]]);
    expect(defaults.initContainers?.[0]?.command.join(' ')).toContain('/proc/sys/net/ipv4/tcp_migrate_req');
    expect(defaults.containers[0]?.securityContext.privileged).toBeUndefined();
    expect(defaults.containers[0]?.securityContext.capabilities.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(podSpec(await render(['--set', 'nmi.handoverTcpMigrateReq=false'])).initContainers).toBeUndefined();
    expect(podSpec(await render(['--set', 'nmi.handoverTimeoutSeconds=0'])).initContainers).toBeUndefined();
  });

  it('federated identities: NMI gets a projected service-account token (audience, expiry from values), mounted read-only where its flag points', async () => {
    interface Volume { name: string; projected?: { sources: { serviceAccountToken?: { audience: string; expirationSeconds: number; path: string } }[] } }
    interface PodSpec { volumes: Volume[]; containers: { args: string[]; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[] }
    const podSpec = (manifests: Manifest[]): PodSpec => (manifests.find((manifest) => manifest.kind === 'DaemonSet')?.spec as { template: { spec: PodSpec } }).template.spec;
    const tokenSource = (spec: PodSpec): unknown => spec.volumes.find((volume) => volume.name === 'federated-token')?.projected?.sources[0]?.serviceAccountToken;

    const defaults = podSpec(await render([]));
    expect(tokenSource(defaults)).toEqual({ audience: 'api://AzureADTokenExchange', expirationSeconds: 3600, path: 'token' });
    const nmi = defaults.containers[0];
    expect(nmi?.volumeMounts).toContainEqual({ name: 'federated-token', mountPath: '/var/run/secrets/pod-identity/federated', readOnly: true });
    expect(nmi?.args).toContain('--federated-token-file=/var/run/secrets/pod-identity/federated/token');
    // The flag parses, and names the file the volume holds.
    const config = parseNmiConfig((nmi?.args ?? []).map((arg) => arg.replace('$(NODE_NAME)', 'node-1')), { NODE_IP: '10.0.0.4' });
    expect(config.tokens.federatedTokenFile).toBe('/var/run/secrets/pod-identity/federated/token');

    const custom = podSpec(await render(['--set', 'nmi.federatedToken.audience=api://example', '--set', 'nmi.federatedToken.expirationSeconds=7200']));
    expect(tokenSource(custom)).toEqual({ audience: 'api://example', expirationSeconds: 7200, path: 'token' });
    for (const [set, expected] of [
      ['nmi.federatedToken.expirationSeconds=60', '/nmi/federatedToken/expirationSeconds'],
      ['federation.issuer=http://not-https.example', '/federation/issuer'],
    ] as const) {
      const result = await helm(['template', 'x', CHART, '--set', set]);
      expect(result.code, set).not.toBe(0);
      expect(result.stderr, set).toContain(expected);
    }
    // The issuer is only printed in the install notes: it changes nothing that is installed.
    expect(await render(['--set', 'federation.issuer=https://oidc.example/tenant/'])).toEqual(await render([]));
  });

  it('nmi.extraCAFile mounts a node CA file read-only and hands it to Node.js as NODE_EXTRA_CA_CERTS', async () => {
    interface Spec { containers: { env: { name: string; value?: string }[]; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[]; volumes: { name: string; hostPath?: { path: string; type: string } }[] }
    const specOf = (manifests: Manifest[]): Spec => (manifests.find((manifest) => manifest.kind === 'DaemonSet')?.spec as { template: { spec: Spec } }).template.spec;
    const spec = specOf(await render(['--set', 'nmi.extraCAFile=/etc/ssl/private-cloud-ca.pem']));
    expect(spec.containers[0]?.env).toContainEqual({ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/ssl/private-cloud-ca.pem' });
    expect(spec.containers[0]?.volumeMounts).toContainEqual({ name: 'extra-ca', mountPath: '/etc/ssl/private-cloud-ca.pem', readOnly: true });
    expect(spec.volumes).toContainEqual({ name: 'extra-ca', hostPath: { path: '/etc/ssl/private-cloud-ca.pem', type: 'File' } });
    const defaults = specOf(await render([]));
    expect(defaults.containers[0]?.env.some((entry) => entry.name === 'NODE_EXTRA_CA_CERTS')).toBe(false);
    const relative = await helm(['template', 'x', CHART, '--set', 'nmi.extraCAFile=ca.pem']);
    expect(relative.code).not.toBe(0);
    expect(relative.stderr).toContain('/nmi/extraCAFile');
  });

  it('nmi.authorityHost becomes NMI --authority-host (https only); unset, NMI gets no such flag', async () => {
    const nmiArgs = containerOf(await render(['--set', 'nmi.authorityHost=https://login.private-cloud.example']), 'DaemonSet').args;
    expect(nmiArgs).toContain('--authority-host=https://login.private-cloud.example');
    expect(parseNmiConfig(nmiArgs.map((arg) => arg.replace('$(NODE_NAME)', 'node-1')), { NODE_NAME: 'node-1', NODE_IP: '10.0.0.4' }).tokens.authorityHost).toBe('https://login.private-cloud.example');
    expect(containerOf(await render([]), 'DaemonSet').args.some((arg) => arg.startsWith('--authority-host'))).toBe(false);
    const plain = await helm(['template', 'x', CHART, '--set', 'nmi.authorityHost=http://login.example']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain('/nmi/authorityHost');
  });

  it("nmi.runtimeProfile=throughput runs the image's entry point without its V8 flags; memory (the default) keeps the ENTRYPOINT; anything else is refused", async () => {
    const entrypointLine = readFileSync(path.join(repoRoot, 'Dockerfile.nmi'), 'utf8').split('\n').filter((line) => line.startsWith('ENTRYPOINT ')).pop() ?? '';
    const entrypoint = JSON.parse(entrypointLine.slice('ENTRYPOINT '.length)) as string[];
    const v8Flags = entrypoint.filter((arg) => arg.startsWith('--') && !arg.startsWith('--import='));
    expect(v8Flags).toEqual(['--optimize-for-size', '--max-opt=2']);
    const commandOf = (manifests: Manifest[]): string[] | undefined => (containerOf(manifests, 'DaemonSet') as { command?: string[] }).command;
    expect(commandOf(await render(['--set', 'nmi.runtimeProfile=throughput']))).toEqual(entrypoint.filter((arg) => !v8Flags.includes(arg)));
    expect(commandOf(await render([]))).toBeUndefined();
    const wrong = await helm(['template', 'x', CHART, '--set', 'nmi.runtimeProfile=fast']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('runtimeProfile');
  });

  it('migration mode: NMI on its own chain and ports upstream’s NMI does not hold, MIC sharing upstream’s Endpoints lock, and the arguments parse', async () => {
    const manifests = await render(['--set', 'migration.fromAadPodIdentity.enabled=true', '--set', 'migration.fromAadPodIdentity.upstreamLockNamespace=default', '--set', 'metrics.serviceMonitor.enabled=true']);
    const nmiArgs = containerOf(manifests, 'DaemonSet').args;
    expect(nmiArgs).toEqual(expect.arrayContaining(['--ipt-chain=pod-identity-metadata', '--http-probe-port=8086', '--prometheus-port=9091', '--host-token-port=0']));
    // The NMI that leaves migration mode probes on 8085 again: the stopping one takes it as its successor.
    expect(nmiArgs).toContain('--handover-probe-port=8085');
    const micArgs = containerOf(manifests, 'Deployment').args;
    expect(micArgs).toEqual(expect.arrayContaining(['--leader-election-resource-lock=endpointsleases', '--leader-election-name=aad-pod-identity-mic', '--leader-election-namespace=default']));
    // The components accept exactly what the chart passes.
    const nmi = parseNmiConfig(nmiArgs.map((arg) => arg.replace('$(NODE_NAME)', 'node-1')), { NODE_NAME: 'node-1', NODE_IP: '10.0.0.4' });
    expect(nmi.iptables.chain).toBe('pod-identity-metadata');
    expect([nmi.healthServer.port, nmi.metricsServer.port, nmi.hostTokenListener, nmi.handoverProbePort]).toEqual([8086, 9091, undefined, 8085]);
    const lockRole = manifests.find((manifest) => manifest.kind === 'Role' && manifest.metadata.name === 'pod-identity-mic' && manifest.metadata.namespace === 'default') as unknown as { rules: { resources: string[]; verbs: string[] }[] } | undefined;
    expect(lockRole?.rules).toEqual(expect.arrayContaining([{ apiGroups: [''], resources: ['endpoints'], resourceNames: ['aad-pod-identity-mic'], verbs: ['get', 'update'] }, { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]));
    // Step 4 (migration off, the Lease kept in upstream's lock namespace): old replicas still renew the Endpoints.
    const step4 = await render(['--set', 'mic.leaderElection.namespace=default']);
    const step4Role = step4.find((manifest) => manifest.kind === 'Role' && manifest.metadata.name === 'pod-identity-mic' && manifest.metadata.namespace === 'default') as unknown as { rules: { resources: string[] }[] } | undefined;
    expect(step4Role?.rules.some((rule) => rule.resources.includes('endpoints'))).toBe(true);
    const probe = (manifests.find((manifest) => manifest.kind === 'DaemonSet')?.spec as { template: { spec: { containers: { readinessProbe: { httpGet: { port: number } } }[] } } }).template.spec.containers[0]?.readinessProbe.httpGet.port;
    expect(probe).toBe(8086);
    const service = manifests.find((manifest) => manifest.kind === 'Service' && manifest.metadata.name === 'pod-identity-nmi-metrics') as unknown as { spec: { ports: { port: number; targetPort: number }[] } };
    expect(service.spec.ports[0]).toMatchObject({ port: 9091, targetPort: 9091 });
    // Off (the default), none of it.
    const defaults = await render([]);
    expect(containerOf(defaults, 'DaemonSet').args.some((arg) => arg.startsWith('--ipt-chain'))).toBe(false);
    expect(containerOf(defaults, 'DaemonSet').args.some((arg) => arg.startsWith('--handover-probe-port'))).toBe(false);
    expect(containerOf(defaults, 'Deployment').args.some((arg) => arg.startsWith('--leader-election-resource-lock'))).toBe(false);
  });

  it('managed mode installs no MIC and lets NMI read bindings and identities', async () => {
    const manifests = await render(['--set', 'operationMode=managed']);
    expect(manifests.some((manifest) => manifest.kind === 'Deployment')).toBe(false);
    expect(containerOf(manifests, 'DaemonSet').args).toEqual(expect.arrayContaining(['--operation-mode=managed', '--forceNamespaced']));
    const role = manifests.find((manifest) => manifest.kind === 'ClusterRole' && manifest.metadata.name === 'pod-identity-nmi') as unknown as { rules: { resources: string[] }[] };
    expect(role.rules.flatMap((rule) => rule.resources)).toEqual(expect.arrayContaining(['azureidentities', 'azureidentitybindings']));
    expect(role.rules.flatMap((rule) => rule.resources)).not.toContain('azureassignedidentities');
  });
});
