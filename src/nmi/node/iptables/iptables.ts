/**
 * Runs iptables for NMI: reads with `iptables -w 5 -t <table> -S …`, writes a whole plan with one
 * `iptables-restore -w 5 --noflush` transaction (all or nothing, so pods never see a half-applied
 * state such as a flushed chain before its DNAT rule is back). No shell; failures become typed
 * {@link IptablesError}s that say whether a retry can help.
 * @module
 */
import { execFile } from 'node:child_process';
import { PodIdentityError } from '../../../lib/errors.ts';
import { GUARD_HOOKS, PREROUTING, type IptablesCommand, type IptablesTable, type ObservedGuard, type ObservedState } from './rules.ts';

/** How the xtables lock is waited for (seconds); upstream's go-iptables uses `-w` too. */
const WAIT_SECONDS = '5';
/** iptables' own exit status for "resource problem" (lock, busy chain, kernel out of memory). */
const EXIT_RESOURCE_PROBLEM = 4;

/** The outcome of one program run. `code` is the exit status (or -1 when it died by a signal). */
export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program without a shell; rejects only when it cannot be started or times out. */
export type Exec = (file: string, args: readonly string[], input?: string) => Promise<ExecResult>;

export interface IptablesErrorContext {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;
  /** The restore transaction, when the command was iptables-restore. */
  readonly input?: string;
}

export class IptablesError extends PodIdentityError {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;
  readonly input: string | undefined;
  /** A retry may succeed (lock held, resource problem); other failures are retried too, just logged louder. */
  readonly transient: boolean;

  constructor(context: IptablesErrorContext, options?: ErrorOptions) {
    const transient = isTransientFailure(context.exitCode, context.stderr);
    super(
      transient ? 'PI_IPTABLES_TRANSIENT' : 'PI_IPTABLES',
      `${context.argv.join(' ')} exited ${context.exitCode}: ${context.stderr.trim() || '(no output)'}`,
      options,
    );
    this.argv = context.argv;
    this.exitCode = context.exitCode;
    this.stderr = context.stderr;
    this.input = context.input;
    this.transient = transient;
  }
}

/** Another program holds the xtables lock, or iptables reports a resource problem. */
export function isTransientFailure(exitCode: number, stderr: string): boolean {
  return (
    exitCode === EXIT_RESOURCE_PROBLEM ||
    /xtables lock|holding the xtables|Resource temporarily unavailable/i.test(stderr)
  );
}

/**
 * `-S <chain>` of a chain that does not exist. Legacy iptables says "No chain/target/match by that
 * name"; iptables-nft 1.8.x says the (missing) chain "is incompatible, use 'nft' tool".
 */
export function isMissingChain(exitCode: number, stderr: string): boolean {
  return exitCode === 1 && /No chain\/target\/match by that name|chain `[^']*' in table `[^']*' is incompatible/i.test(stderr);
}

/** What the iptables manager needs from the node; a fake in unit tests. */
export interface IptablesRunner {
  /** `iptables -t <table> -S <chain>` (default `nat`); undefined when the chain does not exist. */
  listChain(chain: string, table?: IptablesTable): Promise<string | undefined>;
  /** Applies the commands in one atomic transaction on `table` (default `nat`). */
  apply(commands: readonly IptablesCommand[], table?: IptablesTable): Promise<void>;
}

/** Reads the chain and PREROUTING (PREROUTING always exists in `nat`). */
export async function observe(runner: IptablesRunner, chain: string): Promise<ObservedState> {
  const [chainListing, prerouting] = await Promise.all([runner.listChain(chain), runner.listChain(PREROUTING)]);
  if (prerouting === undefined) throw new PodIdentityError('PI_IPTABLES', 'the nat table has no PREROUTING chain');
  return { chain: chainListing, prerouting };
}

/** Reads the guard chain and its hooks in the filter table (INPUT and FORWARD always exist there). */
export async function observeGuard(runner: IptablesRunner, chain: string): Promise<ObservedGuard> {
  const [chainListing, input, forward] = await Promise.all([runner.listChain(chain, 'filter'), ...GUARD_HOOKS.map((hook) => runner.listChain(hook, 'filter'))]);
  if (input === undefined || forward === undefined) throw new PodIdentityError('PI_IPTABLES', 'the filter table has no INPUT or FORWARD chain');
  return { chain: chainListing, hooks: { INPUT: input, FORWARD: forward } };
}

/** The restore transaction text for `commands` (our arguments never contain blanks or quotes). */
export function restoreInput(commands: readonly IptablesCommand[], table: IptablesTable = 'nat'): string {
  return `*${table}\n${commands.map((command) => command.join(' ')).join('\n')}\nCOMMIT\n`;
}

export interface ExecIptablesOptions {
  /** Defaults to `iptables` and `iptables-restore` on PATH. */
  readonly iptables?: string;
  readonly iptablesRestore?: string;
  /** Injected for tests; defaults to {@link execProgram}. */
  readonly exec?: Exec;
}

/** The real runner. */
export function execIptables(options: ExecIptablesOptions = {}): IptablesRunner {
  const iptables = options.iptables ?? 'iptables';
  const restore = options.iptablesRestore ?? 'iptables-restore';
  const exec = options.exec ?? execProgram;
  return {
    async listChain(chain, table = 'nat') {
      const args = ['-w', WAIT_SECONDS, '-t', table, '-S', chain];
      const result = await exec(iptables, args);
      if (result.code === 0) return result.stdout;
      if (isMissingChain(result.code, result.stderr)) return undefined;
      throw new IptablesError({ argv: [iptables, ...args], exitCode: result.code, stderr: result.stderr });
    },
    async apply(commands, table = 'nat') {
      if (commands.length === 0) return;
      const args = ['-w', WAIT_SECONDS, '--noflush'];
      const input = restoreInput(commands, table);
      const result = await exec(restore, args, input);
      if (result.code !== 0) throw new IptablesError({ argv: [restore, ...args], exitCode: result.code, stderr: result.stderr, input });
    },
  };
}

/** Runs a program with execFile (no shell), 30 s limit, never rejecting on a non-zero exit. */
export const execProgram: Exec = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: 30_000, killSignal: 'SIGKILL', encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error === null) {
        resolve({ code: 0, stdout, stderr });
        return;
      }
      // A number means the program ran and exited non-zero; otherwise it could not run or was killed.
      if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
      else if (error.killed || typeof error.signal === 'string') resolve({ code: -1, stdout, stderr: `${stderr}killed by ${error.signal ?? 'timeout'}` });
      else reject(new PodIdentityError('PI_EXEC', `cannot run ${file}: ${error.message}`, { cause: error }));
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
