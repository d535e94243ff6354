/**
 * NMI's command line, as one table: upstream aad-pod-identity's NMI flags with their exact names and
 * defaults (changes say why in `compatibility`), our additions, and the klog flags. Parsing
 * (`config.ts`), `--help` and the flags section of docs/nmi.md are generated from it.
 * @module
 */
import { isIP } from 'node:net';
import { boolFlag, enumFlag, floatFlag, intFlag, stringFlag, type FlagGroup } from '../lib/go-flags.ts';
import { KLOG_FLAGS, KLOG_FLAG_GROUP } from '../lib/klog-flags.ts';
import { GUARD_CHAIN, isChainName } from './node/iptables/rules.ts';
import { checkTaintKey } from './node/node-taint.ts';

function ipOrEmpty(text: string): string | undefined {
  return text === '' || isIP(text) !== 0 ? undefined : 'an IP address';
}

function ipv4(text: string): string | undefined {
  return isIP(text) === 4 ? undefined : 'an IPv4 address';
}

function namespaceName(text: string): string | undefined {
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(text) && text.length <= 63 ? undefined : 'a Kubernetes namespace name (lower-case DNS label)';
}

function chainName(text: string): string | undefined {
  if (!isChainName(text)) return 'an iptables chain name (1–28 letters, digits, _ . -)';
  return text === GUARD_CHAIN ? `a name other than the guard chain ${GUARD_CHAIN}` : undefined;
}

function headerSafe(text: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(text) ? 'text without control characters (it goes into the User-Agent header)' : undefined;
}

function nonEmpty(text: string): string | undefined {
  return text.trim() === '' ? 'a file path' : undefined;
}

/** Where the chart mounts NMI's projected service-account token for federated identities. */
export const DEFAULT_FEDERATED_TOKEN_FILE = '/var/run/secrets/pod-identity/federated/token';

function httpsUrlOrEmpty(text: string): string | undefined {
  if (text === '') return undefined;
  try {
    return new URL(text).protocol === 'https:' ? undefined : 'an https:// URL';
  } catch {
    return 'an https:// URL';
  }
}

export const NMI_FLAG_GROUPS: readonly FlagGroup[] = [
  { key: 'upstream', title: 'Flags of aad-pod-identity NMI', compatibility: 'same' },
  { key: 'added', title: 'Flags added by pod-identity', compatibility: 'new' },
  KLOG_FLAG_GROUP,
];

const PORT = { min: 0, max: 65_535, placeholder: 'PORT' } as const;

export const NMI_FLAGS = {
  // --- upstream, in upstream's order -------------------------------------------------------------
  version: boolFlag({ group: 'upstream', usage: 'Print the version and exit.' }),
  'nmi-listen-address': stringFlag({
    group: 'upstream',
    placeholder: 'IP',
    defaultText: 'the DNAT address (see --ipt-dnat-address)',
    usage: 'Address of the token listener that intercepted pod traffic reaches. 0.0.0.0 listens on every IPv4 address.',
    compatibility: 'upstream default 127.0.0.1, which needs route_localnet=1 on the node; the default is now the node IP that the DNAT rule targets',
    check: ipOrEmpty,
  }),
  'nmi-port': intFlag({ group: 'upstream', default: 2579, ...PORT, usage: 'Port of the token listener (and of the DNAT target).' }),
  'metadata-ip': stringFlag({ group: 'upstream', default: '169.254.169.254', placeholder: 'IP', usage: 'Address of the instance metadata service (IMDS) that pod traffic is intercepted for and node tokens come from.', check: ipv4 }),
  'metadata-port': intFlag({ group: 'upstream', default: 80, min: 1, max: 65_535, placeholder: 'PORT', usage: 'Port of the instance metadata service.' }),
  node: stringFlag({ group: 'upstream', placeholder: 'NAME', usage: 'Name of this node (set it from spec.nodeName). Required: NMI serves only the pods of this node.', compatibility: 'same, and also read from the NODE_NAME environment variable; start fails when neither is set (upstream started with an empty pod cache)' }),
  'ipt-update-interval-sec': intFlag({
    group: 'upstream',
    default: 4,
    min: 1,
    max: 3_600,
    placeholder: 'SECONDS',
    usage: 'How often the iptables rules are checked and restored if someone changed them (a check takes tens of milliseconds, so a removed rule is back within this interval plus that).',
    compatibility: 'default 4 (upstream 60): a deleted rule exposed the node’s IMDS to every pod for up to a minute',
  }),
  forceNamespaced: boolFlag({ group: 'upstream', usage: 'Namespaced mode: a pod may only use identities of its own namespace. Also on when the environment has FORCENAMESPACED=true.' }),
  MICNamespace: stringFlag({ group: 'upstream', default: 'default', usage: 'Namespace of MIC: its pods (owned by a ReplicaSet whose name starts with "mic") get node tokens directly, like exception pods.', check: namespaceName }),
  'http-probe-port': intFlag({ group: 'upstream', default: 8080, ...PORT, usage: 'Port of /healthz (Active once the iptables rules are installed), /readyz and /livez.', compatibility: 'same /healthz; /readyz and /livez are new' }),
  'retry-attempts-for-created': intFlag({ group: 'upstream', default: 16, min: 1, max: 1_000, usage: 'Standard mode: attempts while the pod’s AzureAssignedIdentity is missing or still Created.' }),
  'retry-attempts-for-assigned': intFlag({ group: 'upstream', default: 4, min: 0, max: 1_000, usage: 'Standard mode: further attempts waiting for Assigned.' }),
  'find-identity-retry-interval': intFlag({ group: 'upstream', default: 5, min: 0, max: 3_600, placeholder: 'SECONDS', usage: 'Standard mode: longest wait between attempts. Managed mode: how long a pod that just arrived waits for its bindings to reach NMI.', compatibility: 'same upper bound; an attempt also starts as soon as the pod’s AzureAssignedIdentity changes, so a token is served within milliseconds of Assigned' }),
  enableProfile: boolFlag({
    group: 'upstream',
    usage: 'Serve CPU and heap profiles on 127.0.0.1:--profile-port (default 6060, upstream’s localhost:6060): GET /debug/pprof/profile?seconds=N (default 30, at most 120) returns a V8 CPU profile (.cpuprofile, opens in Chrome DevTools or speedscope), GET /debug/pprof/heap a sampling heap profile (.heapprofile) of the objects alive now; one profile at a time. Loopback only. NMI runs in the host network: anything on the node can read them, as upstream’s pprof.',
    compatibility: 'same address and paths; V8 profiles instead of Go pprof; a heap profile (allocation sites and sizes, like Go’s), never a heap snapshot, which would hold tokens and secrets',
  }),
  enableScaleFeatures: boolFlag({ group: 'upstream', default: true, usage: 'Watch only the AzureAssignedIdentities labelled nodename=<this node> (false: all of them).' }),
  'block-instance-metadata': boolFlag({ group: 'upstream', usage: 'Answer 403 to pod requests for /metadata/instance instead of proxying them to IMDS.', compatibility: 'same; also blocks case, slash and encoding variants of the path' }),
  'metadata-header-required': boolFlag({ group: 'upstream', default: true, usage: 'Require the header Metadata: true (400 otherwise), as IMDS does.' }),
  'prometheus-port': intFlag({ group: 'upstream', default: 9090, ...PORT, usage: 'Port of the Prometheus /metrics endpoint.' }),
  'operation-mode': enumFlag({ group: 'upstream', default: 'standard', values: ['standard', 'managed'], usage: 'standard: identities assigned by MIC (AzureAssignedIdentity); managed: identities pre-assigned to the VMs, selected from bindings (requires namespaced mode).', compatibility: 'same (matched case-insensitively)' }),
  'allow-network-plugin-kubenet': boolFlag({ group: 'upstream', usage: 'Run even though the kubelet uses kubenet (pods on kubenet can spoof other pods’ addresses).' }),
  'kubelet-config': stringFlag({ group: 'upstream', default: '/etc/default/kubelet', placeholder: 'FILE', usage: 'Kubelet defaults file checked for --network-plugin=kubenet.', compatibility: 'same check; a missing file is logged and treated as "not kubenet" (upstream exited)' }),
  'set-retry-after-header': boolFlag({ group: 'upstream', usage: 'When the pod’s identity is not available (yet), answer 503 with Retry-After: 20 instead of 404.' }),
  'enable-conntrack-deletion': boolFlag({ group: 'upstream', default: true, usage: 'Delete conntrack entries of connections to the metadata address that IMDS itself answers when the rules are installed, so connections opened before NMI are intercepted too (connections already DNATed to an NMI are kept).', compatibility: 'default true (upstream false)' }),
  'log-format': enumFlag({ group: 'upstream', default: 'text', values: ['text', 'json'], usage: 'Log line format.', compatibility: 'same values; the text layout differs from klog’s' }),
  'custom-user-agent': stringFlag({
    group: 'upstream',
    usage: 'Appended to the User-Agent of Kubernetes requests (`pod-identity-nmi/<version> (<os>/<arch>) node/<version> <this>`; the field manager of NMI’s writes stays `pod-identity-nmi`), of IMDS requests (`aad-pod-identity/NMI/<version> <this>`) and, before @azure/identity’s own, of Entra ID requests for service-principal and federated identities.',
    compatibility: 'as upstream: Kubernetes, IMDS and Entra ID requests; the Kubernetes User-Agent and field manager name pod-identity-nmi (upstream aad-pod-identity)',
    check: headerSafe,
  }),

  // --- ours -------------------------------------------------------------------------------------
  kubeconfig: stringFlag({ group: 'added', placeholder: 'FILE', defaultText: 'KUBECONFIG, else in-cluster', usage: 'Path to a kubeconfig file (upstream read only KUBECONFIG).' }),
  'ipt-dnat-address': stringFlag({
    group: 'added',
    placeholder: 'IP',
    defaultText: 'NODE_IP, else --nmi-listen-address',
    usage: 'Where the DNAT rule sends pod traffic for the metadata address. Default: the node IP from the NODE_IP environment variable (status.hostIP). 127.0.0.1 works only with route_localnet=1 on the node.',
    check: ipOrEmpty,
  }),
  'host-token-port': intFlag({
    group: 'added',
    default: 2579,
    ...PORT,
    usage: 'Port of the loopback-only listener (127.0.0.1) that serves /host/token to node agents; /host/token is refused on every other listener. 0 turns it off.',
  }),
  'manage-iptables': boolFlag({
    group: 'added',
    default: true,
    usage: 'Install and keep the interception rules. false leaves redirection to something else (a CNI, a test harness); /healthz is then Active once NMI serves.',
  }),
  'ipt-chain': stringFlag({
    group: 'added',
    default: 'aad-metadata',
    placeholder: 'CHAIN',
    usage:
      'Name of the nat chain that holds the redirect (jumped to first from PREROUTING). Default: upstream’s name. While an aad-pod-identity NMI still runs on the node (migration, docs/migration.md), give ours another name (e.g. pod-identity-metadata): upstream’s NMI deletes `aad-metadata` when it stops, and a chain of another name, jumped to before upstream’s, keeps pods redirected to this NMI throughout.',
    check: chainName,
  }),
  'ipt-guard': boolFlag({
    group: 'added',
    default: true,
    usage:
      'Besides the redirect, keep a guard in the filter table (chain aad-metadata-guard, first in INPUT and FORWARD) that resets pod connections still addressed to the metadata IP: after the DNAT none is, so it only meets traffic the redirect missed (the nat rules deleted or flushed by someone else, a connection pinned to the node’s IMDS before the rules existed). false: upstream’s nat rules only.',
  }),
  'cleanup-iptables-on-exit': boolFlag({
    group: 'added',
    usage: 'Remove the iptables rules when NMI stops (upstream behaviour). Off by default: the rules stay, so pods get "connection refused" instead of the node’s IMDS while NMI restarts. `pod-identity nmi cleanup` removes them for an uninstall.',
  }),
  'handover-timeout-sec': intFlag({
    group: 'added',
    default: 0,
    min: 0,
    max: 600,
    placeholder: 'SECONDS',
    usage:
      'On SIGTERM, keep answering tokens until the NMI that replaces this one on the node answers /readyz on --http-probe-port, for at most this many seconds, so a rolling update or a deleted NMI pod leaves pods no gap. The health and metrics listeners close at once; every listener shares its port with the successor (SO_REUSEPORT). Skipped when the DaemonSet was deleted (uninstall). 0: stop at once. Keep the pod’s terminationGracePeriodSeconds above it.',
  }),
  'handover-tcp-migrate-req': boolFlag({
    group: 'added',
    default: true,
    usage:
      'With --handover-timeout-sec, set net.ipv4.tcp_migrate_req=1 in the node’s network namespace when it is 0, so closing this NMI’s listeners hands connections still in their accept queue to the successor instead of resetting them (Linux 5.14+; needs a writable /proc/sys, else NMI warns once and a pod connecting in that instant may see one reset). false: never write it.',
  }),
  'handover-probe-port': intFlag({
    group: 'added',
    default: 0,
    ...PORT,
    usage:
      'During a handover, a ready /readyz on this port also counts as the successor: for a successor that moves --http-probe-port (the chart sets it while migrating from aad-pod-identity, whose NMI holds the usual port; leaving migration mode moves it back). 0: only --http-probe-port.',
  }),
  'not-ready-taint': stringFlag({
    group: 'added',
    placeholder: 'KEY',
    usage:
      'Taint key that NMI removes from its own node once its iptables rules are installed and its caches synced (every taint with this key). Register nodes with it (kubelet --register-with-taints=aadpodidentity.k8s.io/nmi-not-ready=true:NoSchedule) so no pod is scheduled on a node before NMI intercepts its metadata traffic. Empty: off, NMI never reads or writes Node objects.',
    check: checkTaintKey,
  }),
  'health-bind-address': stringFlag({ group: 'added', placeholder: 'IP', defaultText: 'all interfaces', usage: 'Address for the --http-probe-port listener (kubelet probes the node IP).', check: ipOrEmpty }),
  'profile-port': intFlag({ group: 'added', default: 6060, ...PORT, usage: 'Port of the --enableProfile listener on 127.0.0.1 (upstream: always 6060); pick another when something else on the node uses 6060.' }),
  'metrics-operation-type': enumFlag({
    group: 'added',
    default: 'route',
    values: ['route', 'path'],
    usage:
      'operation_type of aadpodidentity_nmi_operations_duration_seconds. route: token, host_token, proxy, invalid_path or instance_blocked (bounded). path: the request’s URL path, as upstream, for dashboards that key on it (e.g. /metadata/identity/oauth2/token). Any pod chooses the paths it sends, so path mode lets pods create series: NMI keeps at most 1000 distinct paths (later ones count as "other") and cuts each at 256 characters.',
  }),
  'metrics-bind-address': stringFlag({ group: 'added', placeholder: 'IP', defaultText: 'all interfaces', usage: 'Address for the --prometheus-port listener.', check: ipOrEmpty }),
  'token-cache-size': intFlag({ group: 'added', default: 1_000, min: 1, max: 1_000_000, usage: 'Most tokens cached, per (identity, resource); the least recently used is evicted beyond it.' }),
  'per-pod-requests-per-second': floatFlag({ group: 'added', default: 10, above: 0, usage: 'Token requests one pod may make per second (bursts of --per-pod-burst); beyond it 429 with Retry-After.' }),
  'per-pod-burst': intFlag({ group: 'added', default: 20, min: 1, max: 100_000, usage: 'Burst size of the per-pod rate limit.' }),
  'imds-max-concurrent': intFlag({ group: 'added', default: 5, min: 1, max: 1_000, usage: 'Most token requests to IMDS at once from this node (IMDS allows 5 per VM).' }),
  'imds-max-per-second': intFlag({ group: 'added', default: 20, min: 1, max: 10_000, usage: 'Most token requests to IMDS started in any second from this node (IMDS allows 20 per VM).' }),
  cloud: enumFlag({
    group: 'added',
    default: 'AzurePublicCloud',
    values: ['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernmentCloud'],
    usage: 'Cloud whose Entra ID authority serves service-principal and federated identities (types 1, 2 and 3) that set no adEndpoint.',
  }),
  'authority-host': stringFlag({ group: 'added', placeholder: 'URL', usage: 'Entra ID authority host for service-principal and federated identities without adEndpoint; overrides --cloud (Azure Stack, private clouds).', check: httpsUrlOrEmpty }),
  'federated-token-file': stringFlag({
    group: 'added',
    default: DEFAULT_FEDERATED_TOKEN_FILE,
    placeholder: 'FILE',
    usage:
      'NMI’s own service-account token (a projected volume with audience api://AzureADTokenExchange; the chart mounts it here), presented to Entra ID as the client assertion for federated identities (type 3). Read again for every exchange, so the kubelet’s rotation needs no restart; missing or empty: type-3 requests get 503 naming the file.',
    check: nonEmpty,
  }),

  ...KLOG_FLAGS,
};

/** The environment variables NMI reads itself. */
export const NMI_ENVIRONMENT: readonly { readonly name: string; readonly usage: string; readonly compatibility: string }[] = [
  { name: 'NODE_NAME', usage: 'This node’s name when --node is not given (downward API spec.nodeName).', compatibility: 'new fallback' },
  { name: 'NODE_IP', usage: 'This node’s IP (downward API status.hostIP): the default DNAT target and token listener address.', compatibility: 'new' },
  { name: 'FORCENAMESPACED', usage: 'Exactly "true" turns namespaced mode on, like --forceNamespaced.', compatibility: 'same' },
  { name: 'NMI_DAEMONSET_NAME', usage: 'With POD_NAMESPACE: NMI’s own DaemonSet. When NMI sees it deleted (uninstall), it removes its iptables rules as it stops.', compatibility: 'new' },
  { name: 'POD_NAMESPACE', usage: 'NMI’s namespace (downward API metadata.namespace), for NMI_DAEMONSET_NAME.', compatibility: 'new' },
  { name: 'KUBECONFIG', usage: 'Kubeconfig file when --kubeconfig is not given; in-cluster configuration when neither is set.', compatibility: 'same' },
];
