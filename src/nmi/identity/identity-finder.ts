/**
 * The imperative shell around identity selection (select-identity.ts): exceptions first, then managed
 * mode (one look at bindings) or standard mode (attempts over the pod's AzureAssignedIdentities,
 * waiting between them as upstream did, but woken early when the pod's AAIs change).
 * @module
 */
import { isExcepted, isMicPod, managedModeSelection, standardModeAttempt, type IdentitySelector, type Selection } from './select-identity.ts';
import type { KeyedWaiter } from '../../lib/keyed-waiter.ts';
import type { NodeView } from './node-view.ts';
import { bindingLabelOf, servesByAddress, type NodePod } from './pods.ts';

/** What the finder reads of the node's view (a structural subset, so tests can hand in a fake). */
export type FinderView = Pick<NodeView, 'pod' | 'assignedTo' | 'exceptionsIn' | 'bindingsIn' | 'identitiesIn'>;

/** What to do for a request: a {@link Selection}, or `node` (exception: the node's own identity). */
export type Decision = Exclude<Selection, { kind: 'wait' }> | { readonly kind: 'node'; readonly reason: 'exception' | 'mic' };

export interface IdentityFinderOptions {
  readonly mode: 'standard' | 'managed';
  readonly namespaced: boolean;
  readonly micNamespace: string;
  readonly retryAttemptsForCreated: number;
  readonly retryAttemptsForAssigned: number;
  readonly retryIntervalMs: number;
}

export class IdentityFinder {
  private readonly view: FinderView;
  private readonly waiter: KeyedWaiter;
  private readonly options: IdentityFinderOptions;

  constructor(view: FinderView, waiter: KeyedWaiter, options: IdentityFinderOptions) {
    this.view = view;
    this.waiter = waiter;
    this.options = options;
  }

  /** Decides for `pod`; waits (standard mode) until a final answer or `signal` aborts. */
  async decide(pod: NodePod, selector: IdentitySelector | undefined, signal?: AbortSignal): Promise<Decision> {
    if (isMicPod(pod, this.options.micNamespace)) return { kind: 'node', reason: 'mic' };
    if (isExcepted(pod, this.view.exceptionsIn(pod.namespace))) return { kind: 'node', reason: 'exception' };
    if (this.options.mode === 'managed') {
      const selection = managedModeSelection(pod, this.view.bindingsIn(pod.namespace), this.view.identitiesIn(pod.namespace), selector);
      return selection.kind === 'wait' ? { kind: 'refuse', status: 404, error: 'identity_not_found', description: selection.reason } : selection;
    }
    const label = bindingLabelOf(pod);
    if (label === undefined || label === '') {
      // No label: no binding selects the pod, so nothing can become usable while this request waits
      // (an AAI under its name is another, earlier pod's; see selectsPod).
      return { kind: 'refuse', status: 404, error: 'identity_not_found', description: `pod ${pod.namespace}/${pod.name} has no aadpodidbinding label, so no AzureIdentityBinding selects it and no identity is assigned to it` };
    }
    const options = {
      forceNamespaced: this.options.namespaced,
      retryAttemptsForCreated: this.options.retryAttemptsForCreated,
      retryAttemptsForAssigned: this.options.retryAttemptsForAssigned,
      retryIntervalSeconds: this.options.retryIntervalMs / 1000,
    };
    for (let attempt = 0; ; attempt++) {
      const selection = standardModeAttempt(pod, this.view.assignedTo(pod.namespace, pod.name), selector, attempt, options);
      if (selection.kind !== 'wait') return selection;
      await this.waiter.wait(`${pod.namespace}/${pod.name}`, this.options.retryIntervalMs, signal);
      if (signal?.aborted === true) {
        return { kind: 'refuse', status: 404, error: 'identity_not_found', description: `request cancelled while waiting: ${selection.reason}` };
      }
      // A pod deleted (or finished, or replaced by a namesake) while its request waits will never be
      // assigned: answer now instead of holding the request for every remaining attempt (~80 s).
      const now = this.view.pod(pod.namespace, pod.name);
      if (now === undefined || now.uid !== pod.uid || !servesByAddress(now)) {
        return { kind: 'refuse', status: 404, error: 'identity_not_found', description: `pod ${pod.namespace}/${pod.name} was deleted while its request waited for an assigned identity` };
      }
    }
  }
}
