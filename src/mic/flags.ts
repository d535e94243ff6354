/**
 * MIC's command line, as one table: upstream aad-pod-identity's flags with their exact names and
 * defaults, our additions, and the klog flags that upstream manifests pass. Parsing
 * (`config.ts`), `--help` and the flags section of docs/mic.md are all generated from it.
 * @module
 */
import { isIP } from 'node:net';
import { isGuid, OBJECT_NAME_MAX_LENGTH, OBJECT_NAME_PATTERN } from '../api/formats.ts';
import {
  boolFlag,
  durationFlag,
  enumFlag,
  intFlag,
  listFlag,
  optionalDurationFlag,
  optionalFloatFlag,
  optionalStringFlag,
  stringFlag,
  type FlagGroup,
} from '../lib/go-flags.ts';
import { KLOG_FLAGS, KLOG_FLAG_GROUP } from '../lib/klog-flags.ts';

const OBJECT_NAME = new RegExp(OBJECT_NAME_PATTERN);
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;

function objectName(text: string): string | undefined {
  return text.length <= OBJECT_NAME_MAX_LENGTH && OBJECT_NAME.test(text) ? undefined : 'a Kubernetes object name (lower-case DNS subdomain)';
}

function namespaceName(text: string): string | undefined {
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(text) && text.length <= 63 ? undefined : 'a Kubernetes namespace name (lower-case DNS label)';
}

function bindAddress(text: string): string | undefined {
  return text === '' || isIP(text) !== 0 ? undefined : 'an IP address, or empty for all interfaces';
}

function headerSafe(text: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(text) ? 'text without control characters (it goes into the User-Agent header)' : undefined;
}

export const MIC_FLAG_GROUPS: readonly FlagGroup[] = [
  { key: 'upstream', title: 'Flags of aad-pod-identity MIC', compatibility: 'same' },
  { key: 'added', title: 'Flags added by pod-identity', compatibility: 'new' },
  KLOG_FLAG_GROUP,
];

const DRIFT_INTERVAL_TEXT = 'the value of --identity-assignment-reconcile-interval (3m)';

export const MIC_FLAGS = {
  // --- upstream, in upstream's order -------------------------------------------------------------
  kubeconfig: stringFlag({ group: 'upstream', placeholder: 'FILE', usage: 'Path to a kubeconfig file; in-cluster configuration when empty.' }),
  cloudconfig: stringFlag({
    group: 'upstream',
    placeholder: 'FILE',
    usage: 'Path to the cloud config (azure.json); when empty, the cloud config comes from environment variables (CLIENT_ID, TENANT_ID, …).',
    compatibility: 'same; the file is also re-read when it changes',
  }),
  forceNamespaced: boolFlag({ group: 'upstream', usage: 'Namespaced mode: identity, binding and pod must share a namespace. Also on when the environment has FORCENAMESPACED=true.' }),
  version: boolFlag({ group: 'upstream', usage: 'Print the version and exit.', compatibility: 'same, except that MIC_POD_NAMESPACE is not required for it' }),
  syncRetryDuration: durationFlag({
    group: 'upstream',
    default: '3600s',
    minMs: 0,
    exclusiveMin: true,
    minText: 'greater than 0',
    usage: 'Interval of a periodic full re-plan of every VM/VMSS target, a safety net: changes are reconciled as events arrive and failures retry with backoff.',
    compatibility: 'same default; no longer the retry path (upstream retried failures only on this tick or on informer resyncs)',
  }),
  'leader-election-instance': optionalStringFlag({ group: 'upstream', defaultText: 'the hostname (pod name)', usage: 'This replica’s identity in leader election.', check: (text) => (text === '' ? 'a non-empty name' : undefined) }),
  'leader-election-namespace': stringFlag({ group: 'upstream', default: 'default', usage: 'Namespace of the leader election lock.', check: namespaceName }),
  'leader-election-name': stringFlag({ group: 'upstream', default: 'aad-pod-identity-mic', usage: 'Name of the leader election lock.', check: objectName }),
  'leader-election-duration': durationFlag({
    group: 'upstream',
    default: '15s',
    minMs: 1_000,
    minText: 'at least 1s',
    usage: 'Lease duration; the leader renews every quarter of it and gives up once renewing has failed for half of it; candidates check the lease every second (or every quarter of it, if shorter), so a standby takes over within the lease duration + 2 s of the leader’s last renewal.',
    compatibility: 'same lease and renew timing; candidates check more often (upstream: every retry period, which added up to two periods to a failover); the lock is a coordination.k8s.io Lease instead of an Endpoints object, or both with --leader-election-resource-lock=endpointsleases',
  }),
  'http-probe-port': intFlag({ group: 'upstream', default: 8080, min: 0, max: 65_535, placeholder: 'PORT', usage: 'Port of /healthz (and /readyz, /livez); 0 picks a free port.', compatibility: 'same /healthz; /readyz and /livez are new' }),
  'prometheus-port': intFlag({ group: 'upstream', default: 8888, min: 0, max: 65_535, placeholder: 'PORT', usage: 'Port of the Prometheus /metrics endpoint; 0 picks a free port.' }),
  enableProfile: boolFlag({
    group: 'upstream',
    usage: 'Serve CPU and heap profiles on 127.0.0.1:--profile-port (default 6060, upstream’s localhost:6060): GET /debug/pprof/profile?seconds=N (default 30, at most 120) returns a V8 CPU profile (.cpuprofile, opens in Chrome DevTools or speedscope), GET /debug/pprof/heap a sampling heap profile (.heapprofile) of the objects alive now; one profile at a time. Loopback only.',
    compatibility: 'same address and paths; V8 profiles instead of Go pprof; a heap profile (allocation sites and sizes, like Go’s), never a heap snapshot, which would hold tokens and secrets',
  }),
  enableScaleFeatures: boolFlag({ group: 'upstream', usage: 'Deprecated; has no effect on MIC.', compatibility: 'same (accepted, logs a notice)' }),
  createDeleteBatch: intFlag({ group: 'upstream', default: 20, min: 1, usage: 'Most AzureAssignedIdentity API calls in flight per VM/VMSS target.' }),
  clientQps: optionalFloatFlag({
    group: 'upstream',
    above: 0,
    defaultText: 'no limit',
    usage: 'Paces MIC’s Kubernetes requests to this many per second with bursts of int(QPS) (at least 1), as client-go does: every request and every watch opening takes a token, and requests over the rate wait their turn. Leader-lock requests are not paced, so a backlog never costs the lease. Not given: no client-side limit (the API server’s priority and fairness still applies): upstream’s default of 5 would hold a 1,000-pod wave, 2 to 3 writes per pod (the AzureAssignedIdentity, its status, an Event), to 7–10 minutes, where MIC’s target is seconds.',
    compatibility: 'applied as upstream when given (QPS, burst int(QPS)); default no limit (upstream 5); ≤ 0 refused',
  }),
  'immutable-user-msis': listFlag({
    group: 'upstream',
    placeholder: 'CLIENT_IDS',
    usage: 'Comma-separated client IDs of user-assigned identities that MIC never removes from a VM/VMSS (compared case-insensitively); the cloud config’s userAssignedIdentityID is added.',
    compatibility: 'same; entries that are not GUIDs are rejected at start instead of silently never matching',
    checkItem: (item) => (isGuid(item) ? undefined : 'client IDs (GUIDs)'),
  }),
  'config-map-name': stringFlag({ group: 'upstream', default: 'aad-pod-identity-config', usage: 'ConfigMap (in MIC_POD_NAMESPACE) that records the type upgrade.', check: objectName }),
  'type-upgrade-status-key': stringFlag({
    group: 'upstream',
    default: 'type-upgrade-status',
    usage: 'Key in that ConfigMap marking the v1.6 type upgrade as done.',
    check: (text) => (CONFIG_MAP_KEY.test(text) && text.length <= 253 ? undefined : 'a ConfigMap key (letters, digits, -, _ and .)'),
  }),
  'enable-type-upgrade': boolFlag({ group: 'upstream', default: true, usage: 'Run the v1.6 type upgrade once per leadership unless the ConfigMap key says it was done.' }),
  'update-user-msi-max-retry': intFlag({
    group: 'upstream',
    default: 2,
    min: 0,
    usage: 'Retries of an ARM request after a transient failure (no response, 408, 5xx) before the VM/VMSS target goes back to the queue with backoff.',
    compatibility: 'same count; throttling (429, Retry-After) is not retried in place but closes a throttle gate until ARM allows requests again',
  }),
  'update-user-msi-retry-interval': durationFlag({
    group: 'upstream',
    default: '1s',
    minMs: 0,
    usage: 'Delay before the first of those retries; it doubles for each further retry.',
    compatibility: 'same first delay; later retries back off exponentially instead of waiting the same interval',
  }),
  'identity-assignment-reconcile-interval': durationFlag({
    group: 'upstream',
    default: '3m',
    minMs: 0,
    usage: 'How often each VM/VMSS that holds assignments is re-read from ARM and repaired when its identities drifted (removed by hand, by an AKS upgrade, …); 0 disables. Same setting as --drift-check-interval.',
    compatibility: 'same interval; each target is checked at a random point of every interval instead of all at once; 0 disables (upstream could not)',
  }),
  'log-format': enumFlag({ group: 'upstream', default: 'text', values: ['text', 'json'], usage: 'Log line format.', compatibility: 'same values; the text layout differs from klog’s' }),
  'custom-user-agent': stringFlag({
    group: 'upstream',
    usage: 'Appended to the User-Agent of every request: Kubernetes (`pod-identity-mic/<version> (<os>/<arch>) node/<version> <this>`; the field manager of MIC’s writes stays `pod-identity-mic`) and Azure (`aad-pod-identity/MIC/<version> <this>`).',
    compatibility: 'same; the Kubernetes User-Agent and field manager name pod-identity-mic (upstream aad-pod-identity)',
    check: headerSafe,
  }),

  // --- ours -------------------------------------------------------------------------------------
  'identity-removal-grace-period': durationFlag({
    group: 'added',
    default: '30s',
    minMs: 0,
    usage: 'How long an identity stays on a VM/VMSS after the last pod that needed it left, so rolling updates and short Jobs do not cause remove/add churn. 0 removes at once (upstream behaviour).',
  }),
  debounce: durationFlag({ group: 'added', default: '100ms', minMs: 0, usage: 'The longest an event waits for the view to be recomputed. Events are handled on the next turn of the event loop; during a burst each recompute is followed by a pause of 4× its cost (at most this), so recomputes take ≤ 20 % of a core. 0 recomputes on every event.' }),
  'drift-check-interval': optionalDurationFlag({
    group: 'added',
    defaultText: DRIFT_INTERVAL_TEXT,
    minMs: 0,
    usage: 'Alias of --identity-assignment-reconcile-interval with a name that says what it does; give one or the other (or both with the same value).',
  }),
  workers: intFlag({ group: 'added', default: 8, min: 1, max: 1_000, usage: 'VM/VMSS targets reconciled concurrently (never the same target twice at once).' }),
  'health-bind-address': stringFlag({
    group: 'added',
    placeholder: 'IP',
    defaultText: 'all interfaces',
    usage: 'Address for the --http-probe-port listener. Empty means every interface (IPv6 and IPv4), like upstream’s ":port", because kubelet probes the pod IP.',
    check: bindAddress,
  }),
  'metrics-bind-address': stringFlag({
    group: 'added',
    placeholder: 'IP',
    defaultText: 'all interfaces',
    usage: 'Address for the --prometheus-port listener. Empty means every interface, like upstream, because Prometheus scrapes the pod IP; 127.0.0.1 keeps metrics to a sidecar.',
    check: bindAddress,
  }),
  'profile-port': intFlag({ group: 'added', default: 6060, min: 0, max: 65_535, placeholder: 'PORT', usage: 'Port of the --enableProfile listener on 127.0.0.1 (upstream: always 6060).' }),
  'leader-election-resource-lock': enumFlag({
    group: 'added',
    default: 'leases',
    values: ['leases', 'endpointsleases'],
    usage:
      'Leader election lock. leases: a coordination.k8s.io Lease named --leader-election-name in --leader-election-namespace. endpointsleases: upstream aad-pod-identity’s Endpoints lock of that name and namespace together with that Lease (client-go’s multilock): a replica leads only when both are free or expired and then renews both, so an upstream MIC and this one never lead at once during a switch (docs/migration.md). Needs get, create and update on endpoints too.',
  }),

  // --- klog (upstream links klog; its manifests pass --logtostderr and sometimes --v) --------------
  ...KLOG_FLAGS,
};

export type MicFlagName = keyof typeof MIC_FLAGS;

/** The environment variables MIC reads itself (the cloud config's variables are documented with it). */
export const MIC_ENVIRONMENT: readonly { readonly name: string; readonly usage: string; readonly compatibility: string }[] = [
  {
    name: 'MIC_POD_NAMESPACE',
    usage: 'Required. MIC’s own namespace (set from metadata.namespace); the type-upgrade ConfigMap lives there.',
    compatibility: 'same (start fails with a clear error when missing)',
  },
  {
    name: 'FORCENAMESPACED',
    usage: 'Exactly "true" turns namespaced mode on, like --forceNamespaced; any other value leaves it off.',
    compatibility: 'same (a notice is logged for values such as "True" or "1", which upstream ignores too)',
  },
];
