/**
 * NMI's iptables redirection as pure decisions: the expected `aad-metadata` chain (the exact text of
 * upstream aad-pod-identity, which operators grep for) and the commands that converge the `nat` table
 * to it from what `iptables -t nat -S` shows. Commands are argv after `-t nat`; the executor applies a
 * whole plan in one `iptables-restore --noflush` transaction, so no step of it is ever visible alone.
 * @module
 */
import { TerminalError } from '../../lib/errors.ts';

export const AAD_METADATA_CHAIN = 'aad-metadata';
export const PREROUTING = 'PREROUTING';

export interface IptablesConfig {
  /** Custom chain in the `nat` table; `aad-metadata` like upstream. */
  readonly chain: string;
  /** IMDS address and port whose traffic is intercepted (169.254.169.254:80). */
  readonly metadataIp: string;
  readonly metadataPort: number;
  /** Where NMI listens (DNAT target). 127.0.0.1 needs `route_localnet=1` on the node. */
  readonly targetIp: string;
  readonly targetPort: number;
}

/** One iptables command, as argv after `iptables -t nat` (e.g. `['-N', 'aad-metadata']`). */
export type IptablesCommand = readonly string[];

export interface SyncPlan {
  /** Empty when the table already matches. */
  readonly commands: readonly IptablesCommand[];
  /** What differed, for logs and `onRestored` (empty when nothing did). */
  readonly reasons: readonly string[];
}

/** What the node's `nat` table holds now. */
export interface ObservedState {
  /** Output of `iptables -t nat -S <chain>`; undefined when the chain does not exist. */
  readonly chain: string | undefined;
  /** Output of `iptables -t nat -S PREROUTING`. */
  readonly prerouting: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const CHAIN_NAME = /^[A-Za-z0-9_.-]{1,28}$/;

/** Rejects configurations that would produce a wrong or unparsable rule (retrying cannot fix them). */
export function validateIptablesConfig(config: IptablesConfig): IptablesConfig {
  const problems: string[] = [];
  if (!CHAIN_NAME.test(config.chain)) problems.push(`chain name ${JSON.stringify(config.chain)} is not a valid iptables chain name`);
  if (!IPV4.test(config.metadataIp)) problems.push(`metadata IP ${JSON.stringify(config.metadataIp)} is not an IPv4 address`);
  if (!IPV4.test(config.targetIp)) problems.push(`target IP ${JSON.stringify(config.targetIp)} is not an IPv4 address`);
  if (config.targetIp === '0.0.0.0') problems.push('target IP 0.0.0.0 cannot be a DNAT destination (use 127.0.0.1 like upstream)');
  for (const [name, port] of [['metadata port', config.metadataPort], ['target port', config.targetPort]] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) problems.push(`${name} ${port} is not a TCP port`);
  }
  if (problems.length > 0) throw new TerminalError(`invalid iptables configuration: ${problems.join('; ')}`, { code: 'PI_IPTABLES_CONFIG' });
  return config;
}

/** The DNAT rule's match and target, as `-S` prints them (after `-A <chain>`). */
function dnatSpec(config: IptablesConfig): string[] {
  return [
    '!', '-s', '127.0.0.1/32',
    '-d', `${config.metadataIp}/32`,
    '-p', 'tcp', '-m', 'tcp', '--dport', String(config.metadataPort),
    '-j', 'DNAT', '--to-destination', `${config.targetIp}:${config.targetPort}`,
  ];
}

/** The exact lines of `iptables -t nat -S <chain>` when the chain is right. */
export function expectedChainRules(config: IptablesConfig): string[] {
  return [`-N ${config.chain}`, `-A ${config.chain} ${dnatSpec(config).join(' ')}`, `-A ${config.chain} -j RETURN`];
}

/** The unconditional jump from PREROUTING, as `-S` prints it. */
export function jumpRule(config: IptablesConfig): string {
  return `-A ${PREROUTING} -j ${config.chain}`;
}

/** Non-empty lines with trailing blanks and repeated spaces removed. */
export function listingLines(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim().replace(/\s+/g, ' '))
    .filter((line) => line !== '');
}

/** 1-based rule positions (as `-I`/`-D <n>` count them) of our jump in a `-S PREROUTING` listing. */
export function jumpPositions(config: IptablesConfig, prerouting: string): number[] {
  const rules = listingLines(prerouting).filter((line) => line.startsWith(`-A ${PREROUTING} `));
  const jump = jumpRule(config);
  const positions: number[] = [];
  rules.forEach((rule, index) => {
    if (rule === jump) positions.push(index + 1);
  });
  return positions;
}

function chainContentCommands(config: IptablesConfig): IptablesCommand[] {
  return [
    ['-A', config.chain, ...dnatSpec(config)],
    ['-A', config.chain, '-j', 'RETURN'],
  ];
}

const deleteJump = (config: IptablesConfig): IptablesCommand => ['-D', PREROUTING, '-j', config.chain];
const insertJumpFirst = (config: IptablesConfig): IptablesCommand => ['-I', PREROUTING, '1', '-j', config.chain];

/**
 * Commands that make the table right: chain present with exactly the expected rules, and exactly one
 * jump to it, first in PREROUTING (upstream only checks that a jump exists; a rule placed before it
 * could accept pod traffic to IMDS un-redirected). Wrong jumps are deleted by rule text, never by
 * position, so a concurrent writer (kube-proxy, a CNI) cannot make us delete one of its rules.
 */
export function planSync(config: IptablesConfig, observed: ObservedState): SyncPlan {
  const commands: IptablesCommand[] = [];
  const reasons: string[] = [];

  if (observed.chain === undefined) {
    reasons.push(`chain ${config.chain} missing`);
    commands.push(['-N', config.chain], ...chainContentCommands(config));
  } else {
    const actual = listingLines(observed.chain);
    const expected = expectedChainRules(config);
    if (actual.length !== expected.length || actual.some((line, i) => line !== expected[i])) {
      reasons.push(`chain ${config.chain} content differs (${actual.length - 1} rules, expected ${expected.length - 1})`);
      commands.push(['-F', config.chain], ...chainContentCommands(config));
    }
  }

  const positions = jumpPositions(config, observed.prerouting);
  if (positions.length === 0) {
    reasons.push(`jump to ${config.chain} missing from ${PREROUTING}`);
    commands.push(insertJumpFirst(config));
  } else if (positions.length > 1 || positions[0] !== 1) {
    if (positions[0] !== 1) reasons.push(`jump to ${config.chain} is rule ${positions[0]} of ${PREROUTING}, not 1`);
    if (positions.length > 1) reasons.push(`${positions.length} jumps to ${config.chain} in ${PREROUTING}`);
    // Atomic in one transaction, so there is no moment without the jump.
    for (const _ of positions) commands.push(deleteJump(config));
    commands.push(insertJumpFirst(config));
  }
  return { commands, reasons };
}

/** Commands that remove every trace: the jump(s), then the chain's rules, then the chain. */
export function planCleanup(config: IptablesConfig, observed: ObservedState): IptablesCommand[] {
  const commands: IptablesCommand[] = jumpPositions(config, observed.prerouting).map(() => deleteJump(config));
  if (observed.chain !== undefined) commands.push(['-F', config.chain], ['-X', config.chain]);
  return commands;
}
