#!/usr/bin/env node
/**
 * `pod-identity <command> [options]`: the one binary for the project's tools. Each subcommand lives in
 * its own module and receives its arguments, output streams and a shutdown signal (SIGTERM/SIGINT);
 * this file only dispatches and maps the outcome to an exit code.
 * @module
 */
import { inspect } from 'node:util';
import { azureSimCommand } from './azure-sim.ts';
import { EXIT_FAILURE, type Command, type CommandIo } from './command.ts';
import { doctorCommand } from './doctor/command.ts';
import { identityCommand } from './identity/command.ts';
import { nmiCommand } from './nmi.ts';
import { nodeIdentityCommand } from './node-identity/command.ts';
import { sandboxCommand } from './sandbox/command.ts';
import { dispatch } from './shared/subcommands.ts';

const COMMANDS: Readonly<Record<string, Command>> = {
  'azure-sim': azureSimCommand,
  doctor: doctorCommand,
  identity: identityCommand,
  nmi: nmiCommand,
  'node-identity': nodeIdentityCommand,
  sandbox: sandboxCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return `Usage: pod-identity <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun \`pod-identity <command> --help\` for a command's options.\n`;
}

/** Runs one command line (without `node main.ts`); resolves to the exit code. */
export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    return await dispatch(argv, io, { prefix: 'pod-identity', noun: 'command', help: usage(), entries: COMMANDS });
  } catch (error) {
    io.stderr.write(`pod-identity ${argv[0] ?? ''}: ${describe(error)}\n`);
    return EXIT_FAILURE;
  }
}

/** The message and its causes, one line (`a: b: c`). */
export function describe(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error; current !== undefined && parts.length < 8; current = current instanceof Error ? current.cause : undefined) {
    parts.push(current instanceof Error ? current.message : typeof current === 'string' ? current : inspect(current));
  }
  return parts.join(': ');
}

if (import.meta.main) {
  const shutdown = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    // A second signal means "now": do not wait for a clean stop.
    if (shutdown.signal.aborted) process.exit(EXIT_FAILURE);
    shutdown.abort(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, shutdown: shutdown.signal });
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.exitCode = code;
  // Everything is closed by now; should a stray handle remain, do not hang past a clean stop.
  setTimeout(() => process.exit(code), 2_000).unref();
}
