/**
 * What every CLI subcommand gets and returns; kept apart from main.ts so commands do not import the
 * dispatcher.
 * @module
 */

/** Where a command writes, and the signal that asks it to stop (SIGTERM/SIGINT). */
export interface CommandIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly shutdown: AbortSignal;
}

/** A subcommand: resolves to the process exit code once it has finished (or stopped cleanly). */
export interface Command {
  /** One line for `pod-identity --help`. */
  readonly summary: string;
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

/** Bad arguments or input files: the command prints the message and exits with {@link EXIT_USAGE}. */
export class UsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
