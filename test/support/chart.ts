/**
 * Helpers for the chart tests (test/integration/chart): helm against a control plane, kubeconfigs from
 * TokenRequest tokens of the chart's own ServiceAccounts, the RBAC the chart grants a ServiceAccount
 * (read back from the API server), and what that ServiceAccount actually did (from the API server's
 * audit log), compared rule by rule.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { readAuditEvents, type AuditEvent } from '../../src/devenv/audit.ts';
import type { ControlPlaneInfo } from '../harness/description.ts';
import type { RunResult } from '../../src/devenv/exec.ts';
import { writeKubeconfig } from '../../src/devenv/kubeconfig.ts';
import { runHelm, runKubectl } from '../../src/devenv/kubectl.ts';

export type Plane = Pick<ControlPlaneInfo, 'dir' | 'server' | 'caPem' | 'binDir' | 'kubeconfigPath' | 'auditLogPath'>;

export const CHART_DIR = path.resolve(import.meta.dirname, '../../charts/pod-identity');

function must(what: string, result: RunResult): string {
  if (result.code !== 0) throw new Error(`${what} failed (exit ${String(result.code)}):\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
}

/** `--set` arguments from a map (values are passed as written: `{a,b}` lists work). */
function setArgs(values: Readonly<Record<string, string>>): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--set', `${key}=${value}`]);
}

/** helm (the Go-built binary of the test assets) as admin; throws with helm's output on failure. */
export async function helm(plane: Plane, args: readonly string[]): Promise<string> {
  return must(`helm ${args.join(' ')}`, await runHelm(plane, args));
}

/** `helm install <release> charts/pod-identity -n <namespace> --create-namespace --set ...`. */
export function helmInstall(plane: Plane, release: string, namespace: string, values: Readonly<Record<string, string>> = {}): Promise<string> {
  return helm(plane, ['install', release, CHART_DIR, '-n', namespace, '--create-namespace', ...setArgs(values)]);
}

/** `helm upgrade <release> charts/pod-identity -n <namespace> --reuse-values --set ...`. */
export function helmUpgrade(plane: Plane, release: string, namespace: string, values: Readonly<Record<string, string>> = {}): Promise<string> {
  return helm(plane, ['upgrade', release, CHART_DIR, '-n', namespace, '--reuse-values', ...setArgs(values)]);
}

/** kubectl as admin; throws on failure; parses JSON output when asked for `-o json`. */
export async function kubectlJson<T>(plane: Plane, args: readonly string[]): Promise<T> {
  return JSON.parse(must(`kubectl ${args.join(' ')}`, await runKubectl(plane, [...args, '-o', 'json']))) as T;
}

/** The full names the chart gives its objects for a release (`pod-identity.fullname` in _helpers.tpl). */
export function chartNames(release: string): { mic: string; nmi: string } {
  const full = release.includes('pod-identity') ? release : `${release}-pod-identity`;
  return { mic: `${full}-mic`, nmi: `${full}-nmi` };
}

/**
 * A kubeconfig authenticating as the chart's ServiceAccount `namespace/name` with a TokenRequest
 * token. Unlike the harness helper it never creates the ServiceAccount: it must be the chart's own
 * (labelled as managed by Helm).
 */
export async function chartServiceAccountKubeconfig(plane: Plane, namespace: string, name: string, expirationSeconds = 3600): Promise<string> {
  const sa = await kubectlJson<{ metadata: { labels?: Record<string, string> } }>(plane, ['get', 'serviceaccount', name, '-n', namespace]);
  if (sa.metadata.labels?.['app.kubernetes.io/managed-by'] !== 'Helm') throw new Error(`ServiceAccount ${namespace}/${name} is not the chart's (not managed by Helm)`);
  const token = must(`TokenRequest for ${namespace}/${name}`, await runKubectl(plane, ['create', 'token', name, '-n', namespace, `--duration=${String(expirationSeconds)}s`])).trim();
  const dir = path.join(plane.dir, 'users');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `chart-${namespace}-${name}-${randomBytes(3).toString('hex')}.kubeconfig`);
  return writeKubeconfig(file, plane, `system:serviceaccount:${namespace}:${name}`, { kind: 'token', token });
}

// --- Granted: RBAC rules bound to a ServiceAccount ---

interface PolicyRule {
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

interface Binding {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly roleRef: { readonly kind: string; readonly name: string };
  readonly subjects?: readonly { readonly kind: string; readonly name: string; readonly namespace?: string }[];
}

/** One (verb, resource, API group) a ServiceAccount may use; `namespace` '*' = cluster-wide (ClusterRoleBinding). */
export interface Grant {
  readonly apiGroup: string;
  readonly resource: string;
  readonly verb: string;
  readonly namespace: string;
  /** Where it comes from: `ClusterRole/x` or `Role/ns/x`. */
  readonly source: string;
}

/** Rules expanded to one entry per (group, resource, verb); wildcards, resourceNames and non-resource URLs are refused. */
function expand(rules: readonly PolicyRule[], namespace: string, source: string): Grant[] {
  const grants: Grant[] = [];
  for (const rule of rules) {
    if (rule.nonResourceURLs !== undefined) throw new Error(`${source}: unexpected nonResourceURLs rule`);
    for (const apiGroup of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const verb of rule.verbs) {
          if ([apiGroup, resource, verb].includes('*')) throw new Error(`${source}: wildcard rule ${JSON.stringify(rule)}`);
          grants.push({ apiGroup, resource, verb, namespace, source });
        }
      }
    }
  }
  return grants;
}

/**
 * Every rule bound by name to ServiceAccount `namespace/name`, read from the API server (all
 * ClusterRoleBindings and RoleBindings naming it). Also returns the bindings, so the caller can check
 * that they are all the release's.
 */
export async function grantedTo(plane: Plane, namespace: string, name: string): Promise<{ grants: Grant[]; bindings: string[]; releases: string[] }> {
  const names = (binding: Binding): boolean =>
    (binding.subjects ?? []).some((subject) => subject.kind === 'ServiceAccount' && subject.name === name && (subject.namespace ?? binding.metadata.namespace) === namespace);
  const [crbs, rbs] = await Promise.all([
    kubectlJson<{ items: Binding[] }>(plane, ['get', 'clusterrolebindings']),
    kubectlJson<{ items: Binding[] }>(plane, ['get', 'rolebindings', '-A']),
  ]);
  const grants: Grant[] = [];
  const bindings: string[] = [];
  const releases: string[] = [];
  for (const binding of crbs.items.filter(names)) {
    if (binding.roleRef.kind !== 'ClusterRole') throw new Error(`ClusterRoleBinding ${binding.metadata.name} refers to a ${binding.roleRef.kind}`);
    const role = await kubectlJson<{ rules?: PolicyRule[] }>(plane, ['get', 'clusterrole', binding.roleRef.name]);
    grants.push(...expand(role.rules ?? [], '*', `ClusterRole/${binding.roleRef.name}`));
    bindings.push(`ClusterRoleBinding/${binding.metadata.name}`);
    releases.push(binding.metadata.labels?.['app.kubernetes.io/instance'] ?? '');
  }
  for (const binding of rbs.items.filter(names)) {
    const ns = binding.metadata.namespace ?? '';
    const role =
      binding.roleRef.kind === 'ClusterRole'
        ? await kubectlJson<{ rules?: PolicyRule[] }>(plane, ['get', 'clusterrole', binding.roleRef.name])
        : await kubectlJson<{ rules?: PolicyRule[] }>(plane, ['get', 'role', binding.roleRef.name, '-n', ns]);
    grants.push(...expand(role.rules ?? [], ns, `${binding.roleRef.kind}/${binding.roleRef.kind === 'Role' ? `${ns}/` : ''}${binding.roleRef.name}`));
    bindings.push(`RoleBinding/${ns}/${binding.metadata.name}`);
    releases.push(binding.metadata.labels?.['app.kubernetes.io/instance'] ?? '');
  }
  return { grants, bindings, releases };
}

/** The RBAC kinds in a rendered manifest (`helm get manifest`), e.g. to cross-check the API's view. */
export function manifestRbacObjects(manifest: string): { kind: string; name: string; namespace?: string }[] {
  return parseAllDocuments(manifest)
    .map((document) => document.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null)
    .filter((object) => object !== null && /^(Cluster)?Role(Binding)?$/.test(object.kind ?? ''))
    .map((object) => ({ kind: object?.kind ?? '', name: object?.metadata?.name ?? '', ...(object?.metadata?.namespace === undefined ? {} : { namespace: object.metadata.namespace }) }));
}

// --- Used: what a user did, from the audit log ---

/** One (verb, resource[/subresource], API group, namespace) a user called, with how often and the status codes seen. */
export interface Use {
  readonly apiGroup: string;
  readonly resource: string;
  readonly verb: string;
  /** '' for cluster-scoped objects and all-namespace lists/watches. */
  readonly namespace: string;
  count: number;
  readonly codes: Set<number>;
}

/** Resource requests of `user` in the audit log, grouped; `nonResource` lists the other URIs (discovery). */
export async function usedBy(auditLogPath: string, user: string): Promise<{ uses: Use[]; nonResource: string[]; events: AuditEvent[] }> {
  const events = (await readAuditEvents(auditLogPath)).filter((event) => event.user.username === user && event.stage !== 'RequestReceived');
  const uses = new Map<string, Use>();
  const nonResource = new Set<string>();
  const seen = new Set<string>();
  for (const event of events) {
    // A watch logs ResponseStarted and ResponseComplete: count each request once, keep every code.
    const first = !seen.has(event.auditID);
    seen.add(event.auditID);
    const ref = event.objectRef;
    if (ref?.resource === undefined) {
      nonResource.add(`${event.verb} ${event.requestURI.split('?')[0] ?? ''}`);
      continue;
    }
    const resource = ref.subresource === undefined ? ref.resource : `${ref.resource}/${ref.subresource}`;
    const apiGroup = ref.apiGroup ?? '';
    const namespace = ref.namespace ?? '';
    const key = `${apiGroup}\u0000${resource}\u0000${event.verb}\u0000${namespace}`;
    let use = uses.get(key);
    if (use === undefined) {
      use = { apiGroup, resource, verb: event.verb, namespace, count: 0, codes: new Set() };
      uses.set(key, use);
    }
    if (first) use.count++;
    if (event.responseStatus?.code !== undefined) use.codes.add(event.responseStatus.code);
  }
  return { uses: [...uses.values()], nonResource: [...nonResource].sort(), events };
}

// --- Compared ---

/** A granted (verb, resource, group) that the scenarios do not use, and why the chart grants it anyway. */
export interface DocumentedException {
  readonly apiGroup: string;
  readonly resource: string;
  readonly verb: string;
  readonly reason: string;
}

export interface RbacComparison {
  /** One row per granted (group, resource, verb, scope): used how often, or why not. */
  readonly rows: { grant: Grant; uses: number; exception?: string }[];
  /** Granted, not used, not documented. */
  readonly unusedUndocumented: Grant[];
  /** Used (and allowed) without any grant covering it: impossible under RBAC unless another binding grants it. */
  readonly usedUngranted: Use[];
  /** Requests answered 403. */
  readonly refused: Use[];
  /** Documented exceptions that were used after all (the documentation is stale). */
  readonly exceptionsUsed: DocumentedException[];
}

const covers = (grant: Grant, use: Use): boolean =>
  grant.apiGroup === use.apiGroup && grant.resource === use.resource && grant.verb === use.verb && (grant.namespace === '*' || grant.namespace === use.namespace);

export function compareRbac(grants: readonly Grant[], uses: readonly Use[], exceptions: readonly DocumentedException[]): RbacComparison {
  const allowed = uses.filter((use) => !use.codes.has(403) || use.codes.size > 1);
  const rows = grants.map((grant) => {
    const count = allowed.filter((use) => covers(grant, use)).reduce((sum, use) => sum + use.count, 0);
    const exception = exceptions.find((entry) => entry.apiGroup === grant.apiGroup && entry.resource === grant.resource && entry.verb === grant.verb);
    return { grant, uses: count, ...(exception === undefined ? {} : { exception: exception.reason }) };
  });
  return {
    rows,
    unusedUndocumented: rows.filter((row) => row.uses === 0 && row.exception === undefined).map((row) => row.grant),
    usedUngranted: allowed.filter((use) => !grants.some((grant) => covers(grant, use))),
    refused: uses.filter((use) => use.codes.has(403)),
    exceptionsUsed: exceptions.filter((entry) => rows.some((row) => row.exception === entry.reason && row.uses > 0)),
  };
}

/** A Markdown table of a comparison, for the test log and the README. */
export function rbacTable(component: string, comparison: RbacComparison): string {
  const lines = [`${component}:`, '| API group | resource | verb | scope | granted by | used (requests) |', '|---|---|---|---|---|---|'];
  for (const row of comparison.rows) {
    const { grant } = row;
    const used = row.uses > 0 ? String(row.uses) : `0 — ${row.exception ?? 'UNDOCUMENTED'}`;
    lines.push(`| ${grant.apiGroup === '' ? 'core' : grant.apiGroup} | ${grant.resource} | ${grant.verb} | ${grant.namespace === '*' ? 'cluster' : grant.namespace} | ${grant.source} | ${used} |`);
  }
  return lines.join('\n');
}

/**
 * Which Secrets a user's requests reached, as `namespace/name` from the objectRef or the
 * `metadata.name=` field selector; `namespace/*` for a request that could return any Secret there.
 */
export function secretsReached(events: readonly AuditEvent[]): string[] {
  const reached = new Set<string>();
  for (const event of events) {
    if (event.objectRef?.resource !== 'secrets') continue;
    const namespace = event.objectRef.namespace ?? '*';
    if (event.objectRef.name !== undefined) {
      reached.add(`${namespace}/${event.objectRef.name}`);
      continue;
    }
    const selector = new URL(event.requestURI, 'https://audit.invalid').searchParams.get('fieldSelector') ?? '';
    const match = /^metadata\.name=([^,]+)$/.exec(selector);
    reached.add(`${namespace}/${match?.[1] ?? '*'}`);
  }
  return [...reached].sort();
}
