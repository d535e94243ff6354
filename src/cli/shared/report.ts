/**
 * How `identity create` and `node-identity enable` end: the exit code and the one message on stderr
 * for a failure — a usage error (exit 2), an Azure or Kubernetes failure (exit 1) — with the spinner
 * cleared first.
 * @module
 */
import { describeError } from '../../lib/errors.ts';
import { EXIT_FAILURE, EXIT_USAGE, UsageError, type CommandIo } from '../command.ts';
import { AzureCommandError } from '../azure/arm-error.ts';
import type { Progress } from './progress.ts';

/** Runs `body`; failures become a message on stderr and an exit code. */
export async function reportFailures(prefix: string, io: CommandIo, progress: Progress | undefined, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    progress?.fail();
    progress?.close();
    if (error instanceof UsageError) {
      io.stderr.write(`${prefix}: ${error.message}\nRun \`${prefix} --help\` for the options.\n`);
      return EXIT_USAGE;
    }
    if (io.shutdown.aborted) {
      io.stderr.write(`${prefix}: interrupted; run it again to finish (it is idempotent)\n`);
      return EXIT_FAILURE;
    }
    io.stderr.write(`${prefix}: ${error instanceof AzureCommandError ? error.message : describeError(error)}\n`);
    return EXIT_FAILURE;
  }
}
