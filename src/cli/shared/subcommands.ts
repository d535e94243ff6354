/**
 * Choosing a (sub)command by the first argument, the same way at every level (`pod-identity <command>`,
 * `pod-identity identity <subcommand>`): `--help`, `-h` or `help` print the help on stdout (exit 0);
 * no argument prints it on stderr (exit 2); an unknown name is named, then the help (exit 2).
 * @module
 */
import { EXIT_OK, EXIT_USAGE, type CommandIo } from '../command.ts';

/** Something to run with the remaining arguments. */
export interface Runnable {
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

export interface DispatchOptions {
  /** Names the level in messages: `pod-identity identity`. */
  readonly prefix: string;
  /** What the level calls its entries in "unknown …": `command` or `subcommand`. */
  readonly noun: string;
  readonly help: string;
  readonly entries: Readonly<Record<string, Runnable>>;
}

export async function dispatch(argv: readonly string[], io: CommandIo, options: DispatchOptions): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(options.help);
    return EXIT_OK;
  }
  if (name === undefined) {
    io.stderr.write(options.help);
    return EXIT_USAGE;
  }
  const entry = Object.hasOwn(options.entries, name) ? options.entries[name] : undefined;
  if (entry === undefined) {
    io.stderr.write(`${options.prefix}: unknown ${options.noun} ${JSON.stringify(name)}\n\n${options.help}`);
    return EXIT_USAGE;
  }
  return entry.run(rest, io);
}
