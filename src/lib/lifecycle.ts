/**
 * One lifecycle for every long-running part: `run(signal)` resolves only after the part has stopped.
 * {@link runAll} starts a set of runnables, starts leader-only ones once leadership is won, and stops
 * everything when the signal aborts (SIGTERM) or a runnable fails.
 * @module
 */

export interface Runnable {
  readonly name: string;
  /** Leader-only parts (MIC's reconcilers) start after leadership is won and stop when it is lost. */
  readonly needsLeader: boolean;
  run(signal: AbortSignal): Promise<void>;
}

/** Adapts a function into a {@link Runnable}. */
export function runnable(name: string, run: (signal: AbortSignal) => Promise<void>, needsLeader = false): Runnable {
  return { name, needsLeader, run };
}

/** Something that tells when this process leads (Lease-based election in src/kube). */
export interface LeadershipGate {
  /** Resolves when this process becomes leader; rejects/resolves early only if `signal` aborts. */
  waitForLeadership(signal: AbortSignal): Promise<void>;
  /** Aborts when leadership is lost after it was won. */
  readonly lost: AbortSignal;
}

/**
 * Stops `part` as soon as `early` aborts, ahead of the rest of a {@link runAll} set, then stays until
 * the set stops, so runAll does not take the early stop for a failure. (NMI's health and metrics
 * listeners close at SIGTERM while its token listener still serves a handover.)
 */
export function stopsEarly(part: Runnable, early: AbortSignal): Runnable {
  return runnable(
    part.name,
    async (signal) => {
      await part.run(AbortSignal.any([signal, early]));
      if (signal.aborted || !early.aborted) return; // stopped with the set, or failed on its own
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => { resolve(); }, { once: true });
      });
    },
    part.needsLeader,
  );
}

/** Wraps a runnable failure with the runnable's name. */
export class RunnableError extends Error {
  readonly runnable: string;

  constructor(runnable: string, cause: unknown) {
    super(`${runnable}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RunnableError';
    this.runnable = runnable;
  }
}

/**
 * Runs `runnables` until `signal` aborts or one of them fails (then the others are stopped too and
 * the failure is thrown). Without a `leadership` gate, leader-only runnables start at once.
 */
export async function runAll(runnables: readonly Runnable[], signal: AbortSignal, leadership?: LeadershipGate): Promise<void> {
  const stopAll = new AbortController();
  const onAbort = (): void => {
    stopAll.abort(signal.reason);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) stopAll.abort(signal.reason);

  let failure: RunnableError | undefined;
  const guard = async (part: Runnable, partSignal: AbortSignal): Promise<void> => {
    try {
      await part.run(partSignal);
      if (!partSignal.aborted) throw new Error('stopped unexpectedly');
    } catch (error) {
      if (partSignal.aborted) return; // stopping (shutdown or lost leadership): its errors are expected
      failure ??= new RunnableError(part.name, error);
      stopAll.abort(failure);
    }
  };

  const always = runnables.filter((part) => !part.needsLeader).map((part) => guard(part, stopAll.signal));
  const leaderOnly = runnables.filter((part) => part.needsLeader);
  const led = (async (): Promise<void> => {
    if (leaderOnly.length === 0) return;
    let leaderSignal = stopAll.signal;
    if (leadership !== undefined) {
      try {
        await leadership.waitForLeadership(stopAll.signal);
      } catch {
        return;
      }
      if (stopAll.signal.aborted) return;
      leaderSignal = AbortSignal.any([stopAll.signal, leadership.lost]);
    }
    await Promise.all(leaderOnly.map((part) => guard(part, leaderSignal)));
    if (leadership?.lost.aborted === true && !stopAll.signal.aborted) {
      failure ??= new RunnableError('leader-election', new Error('lost leadership'));
      stopAll.abort(failure);
    }
  })();

  try {
    await Promise.all([...always, led]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) throw failure;
}
