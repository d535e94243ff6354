/**
 * Which identity NMI may use for a pod's token request: pure decisions over the pod, its
 * AzureAssignedIdentities (standard mode) or the bindings and identities of its namespace (managed
 * mode). The HTTP shell calls {@link standardModeAttempt} once per attempt and waits between attempts
 * as upstream did (`--retry-attempts-for-created`, `--retry-attempts-for-assigned`,
 * `--find-identity-retry-interval`), so SDKs tuned to upstream's waiting keep working.
 *
 * Fixes over upstream (behaviour reference §8.7): client and resource IDs compare case-insensitively
 * everywhere; several identities and none named is IMDS's own "Multiple user assigned identities"
 * error instead of a random pick; namespaced filtering never panics on an empty result; `object_id`
 * is supported by letting IMDS resolve it among the pod's own identities (the caller must check that
 * the token that comes back belongs to one of `candidates`).
 * @module
 */
import {
  AssignedIdentityState,
  BINDING_LABEL,
  effectiveAssignedState,
  isNamespacedIdentity,
  type AzureAssignedIdentity,
  type AzureIdentity,
  type AzureIdentityBinding,
  type AzurePodIdentityException,
} from '../../api/index.ts';
import { redactClientId } from './redact-client-id.ts';

/** Which identity the caller asked for. `resource_id` comes from `msi_res_id` or `mi_res_id`. */
export type IdentitySelector = {
  readonly kind: 'client_id' | 'object_id' | 'resource_id';
  readonly value: string;
};

/** What NMI knows of the calling pod. */
export interface CallingPod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export type Selection =
  /** Use this identity. */
  | { readonly kind: 'identity'; readonly identity: AzureIdentity }
  /** `object_id` requested: ask IMDS by object ID, and accept the token only if it is one of these. */
  | { readonly kind: 'by-object-id'; readonly objectId: string; readonly candidates: readonly AzureIdentity[] }
  /** Not there yet: try again after the retry interval. */
  | { readonly kind: 'wait'; readonly reason: string }
  /** Final: answer with this IMDS-shaped error. */
  | { readonly kind: 'refuse'; readonly status: number; readonly error: string; readonly description: string };

/** The error IMDS itself gives when several user-assigned identities exist and none is named. */
export const MULTIPLE_IDENTITIES =
  'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request';

const lower = (value: string | undefined): string => (value ?? '').toLowerCase();

/** Whether `identity` is the one `selector` names (case-insensitive; object IDs are not in the CRD). */
export function identityMatches(identity: AzureIdentity, selector: IdentitySelector): boolean {
  switch (selector.kind) {
    case 'client_id':
      return lower(identity.spec.clientID) === lower(selector.value) && selector.value !== '';
    case 'resource_id':
      return lower(identity.spec.resourceID) === lower(selector.value) && selector.value !== '';
    case 'object_id':
      return false;
  }
}

/**
 * Whether an AzurePodIdentityException of the pod's namespace excepts it: any single label pair
 * matches (key exactly, value case-insensitively), as upstream.
 */
export function isExcepted(pod: CallingPod, exceptions: readonly AzurePodIdentityException[]): boolean {
  return exceptions.some(
    (exception) =>
      exception.metadata.namespace === pod.namespace &&
      Object.entries(exception.spec.podLabels).some(([key, value]) => {
        const label = pod.labels[key];
        return label !== undefined && label.toLowerCase() === value.toLowerCase();
      }),
  );
}

/** Picks among the identities a pod may use, by the request's selector. */
export function pickIdentity(identities: readonly AzureIdentity[], selector: IdentitySelector | undefined, pod: CallingPod): Selection {
  if (identities.length === 0) {
    return { kind: 'refuse', status: 404, error: 'invalid_request', description: `no azure identity found for pod ${pod.namespace}/${pod.name}` };
  }
  if (selector === undefined) {
    const distinct = dedupe(identities);
    const [only] = distinct;
    if (distinct.length === 1 && only !== undefined) return { kind: 'identity', identity: only };
    return { kind: 'refuse', status: 400, error: 'invalid_request', description: MULTIPLE_IDENTITIES };
  }
  if (selector.kind === 'object_id') return { kind: 'by-object-id', objectId: selector.value, candidates: dedupe(identities) };
  const match = identities.find((identity) => identityMatches(identity, selector));
  if (match !== undefined) return { kind: 'identity', identity: match };
  const shown = selector.kind === 'client_id' ? redactClientId(selector.value) : selector.value;
  return { kind: 'refuse', status: 404, error: 'invalid_request', description: `no azure identity found for request ${selector.kind} ${shown}` };
}

/** One identity per (namespace, name), in a stable order. */
function dedupe(identities: readonly AzureIdentity[]): AzureIdentity[] {
  const byKey = new Map<string, AzureIdentity>();
  for (const identity of identities) byKey.set(`${identity.metadata.namespace ?? ''}/${identity.metadata.name ?? ''}`, identity);
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, identity]) => identity);
}

export interface StandardModeOptions {
  readonly forceNamespaced: boolean;
  /** Attempts while AAIs are still missing or Created (upstream 16). */
  readonly retryAttemptsForCreated: number;
  /** Further attempts waiting for Assigned (upstream 4). */
  readonly retryAttemptsForAssigned: number;
  /** For messages (upstream: seconds). */
  readonly retryIntervalSeconds: number;
}

/**
 * Whether the binding an AAI was made for still selects the pod. AAIs name pods by namespace and name
 * only, so after a pod is replaced by another of the same name (a StatefulSet, or anyone who can
 * create pods there) the old pod's AAI stays until MIC catches up; the new pod gets that identity only
 * if it carries the binding's label, i.e. if it is bound too. AAIs without a binding copy (never
 * written by either MIC) are judged by identity alone, as upstream.
 */
export function selectsPod(entry: AzureAssignedIdentity, pod: CallingPod): boolean {
  const binding = entry.spec.azureBindingRef;
  return binding === undefined || (binding.spec.selector !== '' && binding.spec.selector === pod.labels[BINDING_LABEL]);
}

/**
 * One attempt of standard mode: from the pod's AAIs (from any MIC; empty state = legacy Assigned),
 * the identities usable now, or whether to wait. `attempt` counts from 0 and is the number of waits so far.
 */
export function standardModeAttempt(
  pod: CallingPod,
  assigned: readonly AzureAssignedIdentity[],
  selector: IdentitySelector | undefined,
  attempt: number,
  options: StandardModeOptions,
): Selection {
  const mine = assigned.filter((entry) => entry.spec.pod === pod.name && entry.spec.podNamespace === pod.namespace && selectsPod(entry, pod));
  const relevant = (entry: AzureAssignedIdentity): boolean =>
    selector === undefined || selector.kind === 'object_id' || (entry.spec.azureIdentityRef !== undefined && identityMatches(entry.spec.azureIdentityRef, selector));
  const byState = (state: AssignedIdentityState): AzureAssignedIdentity[] =>
    mine.filter((entry) => relevant(entry) && entry.status?.status !== '' && entry.status?.status !== undefined && effectiveAssignedState(entry.status.status) === state);
  const legacy = mine.filter((entry) => relevant(entry) && (entry.status?.status === undefined || entry.status.status === ''));
  const usable = legacy.length > 0 ? legacy : byState(AssignedIdentityState.Assigned);

  if (usable.length > 0) {
    // Namespaced identities serve only pods of their own namespace (the AAI could come from any MIC).
    const identities = usable
      .map((entry) => entry.spec.azureIdentityRef)
      .filter((identity): identity is AzureIdentity => identity !== undefined)
      .filter((identity) => !isNamespacedIdentity(identity, options.forceNamespaced) || identity.metadata.namespace === pod.namespace);
    return pickIdentity(identities, selector, pod);
  }

  const total = options.retryAttemptsForCreated + options.retryAttemptsForAssigned;
  const created = byState(AssignedIdentityState.Created);
  const requested = selector === undefined || selector.kind === 'object_id' ? '' : `${selector.kind} in request: ${selector.kind === 'client_id' ? redactClientId(selector.value) : selector.value}, `;
  // Upstream's listPodIDsWithRetry sleeps after every unsuccessful attempt, the last one included, so it
  // gives up `created` (no AAI) or `created + assigned` (still Created) intervals after the request:
  // 80 s and 100 s by default. Attempt k comes after k waits, so those are attempts `created` and `total`.
  if (attempt >= total) {
    return {
      kind: 'refuse',
      status: 404,
      error: 'invalid_request',
      description: `${requested}getting assigned identities for pod ${pod.namespace}/${pod.name} in ASSIGNED state failed after ${total} attempts, retry duration [${options.retryIntervalSeconds}]s. Check MIC pod logs for identity assignment errors`,
    };
  }
  if (created.length === 0 && attempt >= options.retryAttemptsForCreated) {
    return {
      kind: 'refuse',
      status: 404,
      error: 'invalid_request',
      description: `${requested}getting assigned identities for pod ${pod.namespace}/${pod.name} in CREATED state failed after ${options.retryAttemptsForCreated} attempts, retry duration [${options.retryIntervalSeconds}]s. Check MIC pod logs for identity assignment errors`,
    };
  }
  return { kind: 'wait', reason: created.length > 0 ? 'identity assignment in progress (Created)' : 'no AzureAssignedIdentity for the pod yet' };
}

/**
 * Managed mode (no MIC, identities pre-assigned to the VMs): the bindings of the pod's namespace whose
 * selector is the pod's `aadpodidbinding` label, and the identities they name in that namespace.
 * While `settling` (the pod has just arrived and its bindings may still be on their way), finding no
 * identity is `wait` rather than a refusal.
 */
export function managedModeSelection(
  pod: CallingPod,
  bindings: readonly AzureIdentityBinding[],
  identities: readonly AzureIdentity[],
  selector: IdentitySelector | undefined,
  settling = false,
): Selection {
  const label = pod.labels[BINDING_LABEL];
  if (label === undefined || label === '') {
    return { kind: 'refuse', status: 404, error: 'invalid_request', description: `pod ${pod.namespace}/${pod.name} has no aadpodidbinding label` };
  }
  const names = new Set(bindings.filter((binding) => binding.metadata.namespace === pod.namespace && binding.spec.selector === label).map((binding) => binding.spec.azureIdentity));
  const usable = identities.filter((identity) => identity.metadata.namespace === pod.namespace && names.has(identity.metadata.name ?? ''));
  const picked = pickIdentity(usable, selector, pod);
  return settling && picked.kind === 'refuse' && picked.status === 404 ? { kind: 'wait', reason: picked.description } : picked;
}

/**
 * Upstream's MIC self-exception: a pod in MIC's namespace (compared case-insensitively) owned by a
 * ReplicaSet whose name starts with `mic` gets node tokens directly. A Helm release names MIC
 * `<release>-mic`, which does not match — the chart installs an AzurePodIdentityException instead.
 */
export function isMicPod(pod: { readonly namespace: string; readonly replicaSet: string | undefined }, micNamespace: string): boolean {
  return pod.namespace.toLowerCase() === micNamespace.toLowerCase() && pod.replicaSet !== undefined && pod.replicaSet.startsWith('mic');
}
