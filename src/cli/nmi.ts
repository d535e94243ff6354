/**
 * `pod-identity nmi [flags]` runs NMI; `pod-identity nmi cleanup` removes its iptables rules from this
 * node's network namespace (uninstall: NMI leaves them in place when it stops, fail-closed).
 * @module
 */
import { nmiMain } from '../nmi/main.ts';
import type { Command } from './command.ts';

export const nmiCommand: Command = {
  summary: 'run NMI (the node agent); `nmi cleanup` removes its iptables rules',
  run: (argv, io) => nmiMain(argv, process.env, io.shutdown, io.stdout, io.stderr),
};
