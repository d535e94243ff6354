/**
 * The CLI's one flag parser: Go flag syntax (src/lib/go-flags.ts, which MIC and NMI use too, as
 * upstream's binaries do) — `-name` or `--name`, `--name=value` or `--name value`, a boolean as
 * `--name` or `--name=false`, `--` ending the flags, `-h`/`--help` asking for help — driven by one
 * table per command, with every problem collected so one run shows them all. A command adds its own
 * checks to `problems` and ends with {@link throwUsageProblems}: one {@link UsageError} (exit 2).
 * @module
 */
import { parseFlags, type FlagTable, type ParsedFlags } from '../../lib/go-flags.ts';
import { UsageError } from '../command.ts';

export interface CommandFlags<T extends FlagTable> extends Omit<ParsedFlags<T>, 'problems'> {
  /** Syntax, unknown-flag and value problems, then stray arguments (when refused); the command appends its own. */
  readonly problems: string[];
}

export interface CommandFlagsOptions {
  /** The command takes arguments besides flags (a pod name); otherwise they are a problem. */
  readonly positionals?: boolean;
}

export function parseCommandFlags<T extends FlagTable>(table: T, argv: readonly string[], options: CommandFlagsOptions = {}): CommandFlags<T> {
  const parsed = parseFlags(table, argv);
  const problems = [...parsed.problems];
  if (options.positionals !== true && parsed.positionals.length > 0) problems.push(`unexpected arguments: ${parsed.positionals.join(' ')}`);
  return { ...parsed, problems };
}

/** Throws one {@link UsageError} naming every problem, `separator` between them; nothing when there are none. */
export function throwUsageProblems(problems: readonly string[], separator = '; '): void {
  if (problems.length > 0) throw new UsageError(problems.join(separator));
}
