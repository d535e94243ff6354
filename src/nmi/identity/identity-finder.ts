/**
 * The imperative shell around identity selection (select-identity.ts): exceptions first, then managed
 * mode (a look at bindings; for a pod that just arrived, until its bindings are in view) or standard
 * mode (attempts over the pod's AzureAssignedIdentities, waiting between them as upstream did, but
 * woken early when the pod's AAIs change).
 * @module
 */
import { isExcepted, isMicPod, managedModeSelection, standardModeAttempt, type IdentitySelector, type Selection } from './select-identity.ts';
import type { Clock } from '../../lib/clock.ts';
import type { KeyedWaiter } from '../../lib/keyed-waiter.ts';
import type { NodeView } from './node-view.ts';
import type { AzureAssignedIdentity } from '../../api/index.ts';
import { bindingLabelOf, servesByAddress, type NodePod } from './pods.ts';

/** What the finder reads of the node's view (a structural subset, so tests can hand in a fake). */
export type FinderView = Pick<NodeView, 'pod' | 'arrivedAt' | 'assignedTo' | 'exceptionsIn' | 'bindingsIn' | 'identitiesIn'>;

/** The waiter key woken when a binding, identity or exception of `namespace` changes. */
export const namespaceObjectsKey = (namespace: string): string => `bindings:${namespace}`;

/** What to do for a request: a {@link Selection}, or `node` (exception: the node's own identity). */
export type Decision = Exclude<Selection, { kind: 'wait' }> | { readonly kind: 'node'; readonly reason: 'exception' | 'mic' };

export interface IdentityFinderOptions {
  readonly mode: 'standard' | 'managed';
  readonly namespaced: boolean;
  readonly micNamespace: string;
  readonly retryAttemptsForCreated: number;
  readonly retryAttemptsForAssigned: number;
  readonly retryIntervalMs: number;
  readonly clock: Pick<Clock, 'now'>;
}

const MIC_POD: Decision = Object.freeze({ kind: 'node', reason: 'mic' });
const EXCEPTED_POD: Decision = Object.freeze({ kind: 'node', reason: 'exception' });

export class IdentityFinder {
  private readonly view: FinderView;
  private readonly waiter: KeyedWaiter;
  private readonly options: IdentityFinderOptions;
  private readonly standardOptions: Parameters<typeof standardModeAttempt>[4];
  /**
   * Standard mode's first attempt for a request that names no identity, per AAI list and pod: the
   * view replaces both objects when they change, so the selection stays right while both live.
   */
  private readonly firstAttempts = new WeakMap<readonly AzureAssignedIdentity[], { readonly pod: NodePod; readonly selection: Selection }>();

  constructor(view: FinderView, waiter: KeyedWaiter, options: IdentityFinderOptions) {
    this.view = view;
    this.waiter = waiter;
    this.options = options;
    this.standardOptions = {
      forceNamespaced: options.namespaced,
      retryAttemptsForCreated: options.retryAttemptsForCreated,
      retryAttemptsForAssigned: options.retryAttemptsForAssigned,
      retryIntervalSeconds: options.retryIntervalMs / 1000,
    };
  }

  /** Decides for `pod`; waits (standard mode, or a pod that just arrived in managed mode) until a final answer or `signal` aborts. */
  async decide(pod: NodePod, selector: IdentitySelector | undefined, signal?: AbortSignal): Promise<Decision> {
    const now = this.decideNow(pod, selector);
    if (now !== undefined) return now;
    if (this.options.mode === 'managed') return this.decideManaged(pod, selector, signal);
    return this.decideStandard(pod, selector, signal);
  }

  /**
   * The decision if it needs no waiting (a pod whose identity is in view: every request but a new
   * pod's first), else undefined: {@link decide} without a promise.
   */
  decideNow(pod: NodePod, selector: IdentitySelector | undefined): Decision | undefined {
    if (isMicPod(pod, this.options.micNamespace)) return MIC_POD;
    if (isExcepted(pod, this.view.exceptionsIn(pod.namespace))) return EXCEPTED_POD;
    if (this.options.mode === 'managed') {
      const selection = managedModeSelection(pod, this.view.bindingsIn(pod.namespace), this.view.identitiesIn(pod.namespace), selector, this.settlingMs(pod) > 0);
      return selection.kind === 'wait' ? undefined : selection;
    }
    const label = bindingLabelOf(pod);
    if (label === undefined || label === '') {
      // No label: no binding selects the pod, so nothing can become usable while this request waits
      // (an AAI under its name is another, earlier pod's; see selectsPod).
      return { kind: 'refuse', status: 404, error: 'identity_not_found', description: `pod ${pod.namespace}/${pod.name} has no aadpodidbinding label, so no AzureIdentityBinding selects it and no identity is assigned to it` };
    }
    const assigned = this.view.assignedTo(pod.namespace, pod.name);
    const memo = selector === undefined ? this.firstAttempts.get(assigned) : undefined;
    const selection = memo?.pod === pod ? memo.selection : standardModeAttempt(pod, assigned, selector, 0, this.standardOptions);
    if (selector === undefined && memo?.pod !== pod) this.firstAttempts.set(assigned, { pod, selection });
    return selection.kind === 'wait' ? undefined : selection;
  }

  /** How much longer a pod this NMI saw arrive is given for its bindings to reach the view (managed mode). */
  private settlingMs(pod: NodePod): number {
    const arrived = this.view.arrivedAt(pod.uid);
    return arrived === undefined ? 0 : arrived + this.options.retryIntervalMs - this.options.clock.now();
  }

  /**
   * Managed mode answers from the bindings at once, as upstream, except for a pod this NMI saw arrive
   * less than one retry interval ago: pods, bindings and identities come through separate watches, so
   * a binding created just before its pod may reach this view just after the pod (seen under load).
   * Such a pod waits for its namespace's bindings to change, until the interval since its arrival ends.
   */
  private async decideManaged(pod: NodePod, selector: IdentitySelector | undefined, signal: AbortSignal | undefined): Promise<Decision> {
    for (;;) {
      const settlingMs = this.settlingMs(pod);
      const selection = managedModeSelection(pod, this.view.bindingsIn(pod.namespace), this.view.identitiesIn(pod.namespace), selector, settlingMs > 0);
      if (selection.kind !== 'wait') return selection;
      await this.waiter.wait(namespaceObjectsKey(pod.namespace), settlingMs, signal);
      const after = this.afterWait(pod, selection.reason, signal);
      if (after !== undefined) return after;
    }
  }

  private async decideStandard(pod: NodePod, selector: IdentitySelector | undefined, signal: AbortSignal | undefined): Promise<Decision> {
    for (let attempt = 0; ; attempt++) {
      const selection = standardModeAttempt(pod, this.view.assignedTo(pod.namespace, pod.name), selector, attempt, this.standardOptions);
      if (selection.kind !== 'wait') return selection;
      await this.waiter.wait(`${pod.namespace}/${pod.name}`, this.options.retryIntervalMs, signal);
      const after = this.afterWait(pod, selection.reason, signal);
      if (after !== undefined) return after;
    }
  }

  /**
   * The checks after every wait: a cancelled request ends; a pod deleted (or finished, or replaced by
   * a namesake) will never be assigned, so it is answered now instead of after every remaining attempt
   * (~80 s); an exception that reached the view after the pod (separate watches) now applies.
   */
  private afterWait(pod: NodePod, waitedFor: string, signal: AbortSignal | undefined): Decision | undefined {
    if (signal?.aborted === true) {
      return { kind: 'refuse', status: 404, error: 'identity_not_found', description: `request cancelled while waiting: ${waitedFor}` };
    }
    const now = this.view.pod(pod.namespace, pod.name);
    if (now === undefined || now.uid !== pod.uid || !servesByAddress(now)) {
      return { kind: 'refuse', status: 404, error: 'identity_not_found', description: `pod ${pod.namespace}/${pod.name} was deleted while its request waited for an identity` };
    }
    if (isExcepted(now, this.view.exceptionsIn(pod.namespace))) return EXCEPTED_POD;
    return undefined;
  }
}
