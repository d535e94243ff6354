/**
 * Which pod of this node sent a request, by its source address. While the address is unknown (the
 * informer may lag a new pod) or only a pod being deleted has it (a new pod may be the caller), the
 * lookup waits for the address to reach the cache, up to `attempts` × `intervalMs`.
 * @module
 */
import type { KeyedWaiter } from '../../lib/keyed-waiter.ts';
import type { NodeView } from './node-view.ts';
import type { NodePod } from './pods.ts';

/** No single live pod of this node has the address: the caller gets no token. */
export class CallerNotFound extends Error {}

export interface PodLookupOptions {
  readonly view: Pick<NodeView, 'podByAddress'>;
  /** Woken (key: pod address) when a pod's address reaches the cache. */
  readonly addresses: KeyedWaiter;
  readonly nodeName: string;
  readonly attempts: number;
  readonly intervalMs: number;
  /** Called for each look that finds no pod at all (upstream's `get_pod_list` error metric). */
  readonly onUnknownAddress: () => void;
}

export class PodLookup {
  private readonly options: PodLookupOptions;

  constructor(options: PodLookupOptions) {
    this.options = options;
  }

  /** The one pod at `address`; throws {@link CallerNotFound} once waiting is over. */
  async podAt(address: string, signal: AbortSignal | undefined): Promise<NodePod> {
    const { view, attempts, intervalMs, nodeName } = this.options;
    for (let attempt = 1; ; attempt++) {
      const match = view.podByAddress(address);
      if (match.kind === 'pod') return match.pod;
      if (match.kind === 'ambiguous') throw new CallerNotFound(`failed to match pod IP ${address}: ${String(match.count)} pods on node ${nodeName} have this address`);
      if (match.kind === 'unknown') this.options.onUnknownAddress();
      if (attempt >= attempts || signal?.aborted === true) {
        throw new CallerNotFound(
          match.kind === 'terminating'
            ? `pod ${match.pod.namespace}/${match.pod.name} at address ${address} is being deleted: its address may already belong to a new pod, so it gets no token`
            : `no pod of node ${nodeName} has address ${address}`,
        );
      }
      await this.options.addresses.wait(address, intervalMs, signal);
    }
  }
}
