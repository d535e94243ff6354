/**
 * `pod-identity identity <subcommand>`: managing user-assigned identities for pods. Subcommands:
 * `create` (./create.ts).
 * @module
 */
import type { Command } from '../command.ts';
import { dispatch } from '../shared/subcommands.ts';
import { runIdentityCreate } from './create.ts';

const SUBCOMMANDS = {
  create: { summary: 'create a user-assigned identity, its role and grants, and its AzureIdentity + binding', run: runIdentityCreate },
} as const;

const HELP = `Usage: pod-identity identity <subcommand> [options]

Subcommands:
${Object.entries(SUBCOMMANDS).map(([name, sub]) => `  ${name.padEnd(8)}${sub.summary}`).join('\n')}

Run \`pod-identity identity <subcommand> --help\` for its options.
`;

export const identityCommand: Command = {
  summary: 'user-assigned identities for pods (`identity create`)',
  run: (argv, io) => dispatch(argv, io, { prefix: 'pod-identity identity', noun: 'subcommand', help: HELP, entries: SUBCOMMANDS }),
};
