/**
 * `pod-identity node-identity <subcommand>`: for clusters whose nodes themselves hold the identity
 * pods use. Subcommands: `enable` (./enable.ts).
 * @module
 */
import type { Command } from '../command.ts';
import { dispatch } from '../shared/subcommands.ts';
import { runNodeIdentityEnable } from './enable.ts';

const HELP = `Usage: pod-identity node-identity <subcommand> [options]

Subcommands:
  enable  enable the system-assigned identity on every VM / scale set of the nodes and give it a role

Run \`pod-identity node-identity enable --help\` for its options.
`;

export const nodeIdentityCommand: Command = {
  summary: "the nodes' own (system-assigned) identities (`node-identity enable`)",
  run: (argv, io) => dispatch(argv, io, { prefix: 'pod-identity node-identity', noun: 'subcommand', help: HELP, entries: { enable: { run: runNodeIdentityEnable } } }),
};
