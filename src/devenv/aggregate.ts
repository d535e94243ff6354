import type { RunResult } from './exec.ts';

// kube-apiserver's RBAC bootstrap creates `admin`, `edit` and `view` with an aggregationRule but
// `rules: null`: filling them is the job of kube-controller-manager's clusterrole-aggregation
// controller, which this control plane does not run. We do that controller's work once, on demand.

interface LabelSelector {
  readonly matchLabels?: Record<string, string>;
  readonly matchExpressions?: readonly { key: string; operator: string; values?: string[] }[];
}

interface ClusterRole {
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly rules?: readonly unknown[] | null;
  readonly aggregationRule?: { readonly clusterRoleSelectors?: readonly LabelSelector[] };
}

type Kubectl = (args: string[], options?: { input?: string }) => Promise<RunResult>;

function matches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key] ?? '');
    const ok =
      e.operator === 'In' ? inValues : e.operator === 'NotIn' ? !inValues : e.operator === 'Exists' ? has : !has;
    if (!ok) return false;
  }
  return true;
}

/** Rules of every aggregated ClusterRole, iterated to a fixed point (view feeds edit feeds admin). */
function aggregate(roles: readonly ClusterRole[]): Map<string, unknown[]> {
  const rules = new Map(roles.map((r) => [r.metadata.name, [...(r.rules ?? [])]]));
  for (let round = 0; round < 10; round++) {
    let changed = false;
    for (const role of roles) {
      const selectors = role.aggregationRule?.clusterRoleSelectors;
      if (selectors === undefined) continue;
      const seen = new Set<string>();
      const next: unknown[] = [];
      for (const other of roles) {
        if (other.metadata.name === role.metadata.name) continue;
        if (!selectors.some((s) => matches(s, other.metadata.labels ?? {}))) continue;
        for (const rule of rules.get(other.metadata.name) ?? []) {
          const key = JSON.stringify(rule);
          if (seen.has(key)) continue;
          seen.add(key);
          next.push(rule);
        }
      }
      if (JSON.stringify(next) !== JSON.stringify(rules.get(role.metadata.name))) {
        rules.set(role.metadata.name, next);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return rules;
}

/** Fills the rules of aggregated ClusterRoles (admin, edit, view, and any added later) like the controller would. */
export async function aggregateClusterRoles(kubectl: Kubectl): Promise<void> {
  const got = await kubectl(['get', 'clusterroles', '-o', 'json']);
  if (got.code !== 0) throw new Error(`listing ClusterRoles failed: ${got.stderr}`);
  const roles = (JSON.parse(got.stdout) as { items: ClusterRole[] }).items;
  const rules = aggregate(roles);
  for (const role of roles) {
    if (role.aggregationRule === undefined) continue;
    const want = rules.get(role.metadata.name) ?? [];
    if (JSON.stringify(want) === JSON.stringify(role.rules ?? [])) continue;
    const r = await kubectl(['patch', 'clusterrole', role.metadata.name, '--type=merge', '-p', JSON.stringify({ rules: want })]);
    if (r.code !== 0) throw new Error(`filling aggregated ClusterRole ${role.metadata.name} failed: ${r.stderr}`);
  }
}
