/**
 * The sandbox's imperative shell: numbered progress lines for its phases, the error that names the
 * phase that failed, and the teardown that undoes whatever was started, newest first.
 * @module
 */
import { inspect } from 'node:util';
import type { ManagedProcess } from '../../devenv/process.ts';

/** A phase failed; `step` is its name as the progress line shows it. */
export class StepError extends Error {
  readonly step: string;
  constructor(step: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : inspect(cause), { cause });
    this.step = step;
  }
}

/** The message and its causes on one line. */
export function describe(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error; current !== undefined && parts.length < 6; current = current instanceof Error ? current.cause : undefined) {
    if (current instanceof AggregateError) parts.push(`${current.message} (${current.errors.map((inner) => describe(inner)).join('; ')})`);
    else parts.push(current instanceof Error ? current.message : typeof current === 'string' ? current : inspect(current));
  }
  return [...new Set(parts)].join(': ');
}

/** Time since `since` (a `performance.now()`), as `850 ms` or `1.2 s`. */
export function ms(since: number): string {
  const elapsed = performance.now() - since;
  return elapsed < 1000 ? `${Math.round(elapsed)} ms` : `${(elapsed / 1000).toFixed(1)} s`;
}

/** Runs one phase: its result, or a {@link StepError} naming it. */
export type Step = <T>(label: string, work: () => Promise<T>, detail: (value: T) => string) => Promise<T>;

export interface StepRunnerOptions {
  /** How many phases there are (`[n/total]`). */
  readonly total: number;
  readonly say: (text: string) => void;
  /** Aborted: the next phase fails as `interrupted` instead of starting. */
  readonly signal: AbortSignal;
}

/** Each phase, when done, prints `[n/total] <label> <detail> (<time>)`. */
export function stepRunner(options: StepRunnerOptions): Step {
  let stepNo = 0;
  return async <T>(label: string, work: () => Promise<T>, detail: (value: T) => string): Promise<T> => {
    stepNo++;
    if (options.signal.aborted) throw new StepError(label, new Error('interrupted'));
    const t0 = performance.now();
    let value: T;
    try {
      value = await work();
    } catch (error) {
      throw new StepError(label, error);
    }
    options.say(`  [${stepNo}/${options.total}] ${label.padEnd(22)} ${detail(value)} (${ms(t0)})`);
    return value;
  };
}

/**
 * What to undo, in the order it was started. Child processes are also killed (SIGKILL) should this
 * process exit without running the teardown.
 */
export class Teardown {
  readonly #undo: { what: string; run: () => Promise<void> }[] = [];
  readonly #children: ManagedProcess[] = [];
  readonly #killChildren = (): void => {
    for (const child of this.#children) child.killSync();
  };

  constructor() {
    process.once('exit', this.#killChildren);
  }

  /** `what` names the undo in a cleanup failure (`stopping MIC`). */
  add(what: string, run: () => Promise<void>): void {
    this.#undo.push({ what, run });
  }

  /** A child process to kill should this process exit first. */
  track(child: ManagedProcess): void {
    this.#children.push(child);
  }

  /** Runs every undo, newest first, each even when an earlier one failed; resolves to the failures. */
  async run(): Promise<string[]> {
    const problems: string[] = [];
    for (const item of this.#undo.splice(0).reverse()) {
      await item.run().catch((error: unknown) => problems.push(`${item.what}: ${describe(error)}`));
    }
    process.off('exit', this.#killChildren);
    return problems;
  }
}
