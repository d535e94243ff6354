/**
 * `pod-identity identity <subcommand>`: managing user-assigned identities for pods. Subcommands:
 * `create` (./create.ts).
 * @module
 */
import { EXIT_OK, EXIT_USAGE, type Command, type CommandIo } from '../command.ts';
import { runIdentityCreate } from './create.ts';

const SUBCOMMANDS: Readonly<Record<string, { summary: string; run: (argv: readonly string[], io: CommandIo) => Promise<number> }>> = {
  create: { summary: 'create a user-assigned identity, its role and grants, and its AzureIdentity + binding', run: runIdentityCreate },
};

const HELP = `Usage: pod-identity identity <subcommand> [options]

Subcommands:
${Object.entries(SUBCOMMANDS).map(([name, sub]) => `  ${name.padEnd(8)}${sub.summary}`).join('\n')}

Run \`pod-identity identity <subcommand> --help\` for its options.
`;

export const identityCommand: Command = {
  summary: 'user-assigned identities for pods (`identity create`)',
  async run(argv, io) {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      (name === undefined ? io.stderr : io.stdout).write(HELP);
      return name === undefined ? EXIT_USAGE : EXIT_OK;
    }
    const sub = SUBCOMMANDS[name];
    if (sub === undefined) {
      io.stderr.write(`pod-identity identity: unknown subcommand ${JSON.stringify(name)}\n\n${HELP}`);
      return EXIT_USAGE;
    }
    return sub.run(rest, io);
  },
};
