/**
 * `pod-identity node-identity <subcommand>`: for clusters whose nodes themselves hold the identity
 * pods use. Subcommands: `enable` (./enable.ts).
 * @module
 */
import { EXIT_OK, EXIT_USAGE, type Command } from '../command.ts';
import { runNodeIdentityEnable } from './enable.ts';

const HELP = `Usage: pod-identity node-identity <subcommand> [options]

Subcommands:
  enable  enable the system-assigned identity on every VM / scale set of the nodes and give it a role

Run \`pod-identity node-identity enable --help\` for its options.
`;

export const nodeIdentityCommand: Command = {
  summary: "the nodes' own (system-assigned) identities (`node-identity enable`)",
  async run(argv, io) {
    const [name, ...rest] = argv;
    if (name === 'enable') return runNodeIdentityEnable(rest, io);
    if (name === '--help' || name === '-h' || name === 'help') {
      io.stdout.write(HELP);
      return EXIT_OK;
    }
    io.stderr.write(name === undefined ? HELP : `pod-identity node-identity: unknown subcommand ${JSON.stringify(name)}\n\n${HELP}`);
    return EXIT_USAGE;
  },
};
