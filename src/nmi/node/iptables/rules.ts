/**
 * NMI's iptables redirection as pure decisions: the expected `aad-metadata` chain (the exact text of
 * upstream aad-pod-identity, which operators grep for) and the commands that converge the `nat` table
 * to it from what `iptables -t nat -S` shows. Commands are argv after `-t <table>`; the executor
 * applies a whole plan in one `iptables-restore --noflush` transaction, so no step of it is ever
 * visible alone.
 *
 * Besides upstream's redirect, an optional guard in the `filter` table (`aad-metadata-guard`, jumped to
 * first from INPUT and FORWARD) rejects pod packets that still reach the metadata address: after the
 * DNAT no intercepted packet is addressed there, so the guard only ever meets traffic the redirect
 * missed — the redirect deleted or flushed by someone else, or a connection conntrack pinned to the
 * node's IMDS before the rules existed. Deleting one rule then no longer exposes the node's
 * identities. Traffic from the node itself (hostNetwork, NMI's own calls to IMDS) never passes INPUT
 * from another interface than `lo` nor FORWARD, so it is not affected.
 * @module
 */
import { TerminalError } from '../../../lib/errors.ts';

export const AAD_METADATA_CHAIN = 'aad-metadata';
export const GUARD_CHAIN = 'aad-metadata-guard';
/**
 * The redirect chain while an aad-pod-identity NMI still runs on the node (docs/migration.md): upstream's
 * NMI deletes `aad-metadata` when it stops, so ours uses this name, jumped to before upstream's.
 */
export const MIGRATION_CHAIN = 'pod-identity-metadata';
export const PREROUTING = 'PREROUTING';
/** Where pod packets to the metadata address pass in the filter table: INPUT when it is a local address (as in the test namespaces), FORWARD when it is routed on (Azure). */
export const GUARD_HOOKS = ['INPUT', 'FORWARD'] as const;

export type IptablesTable = 'nat' | 'filter';

export interface IptablesConfig {
  /** Custom chain in the `nat` table; `aad-metadata` like upstream. */
  readonly chain: string;
  /** IMDS address and port whose traffic is intercepted (169.254.169.254:80). */
  readonly metadataIp: string;
  readonly metadataPort: number;
  /** Where NMI listens (DNAT target). 127.0.0.1 needs `route_localnet=1` on the node. */
  readonly targetIp: string;
  readonly targetPort: number;
  /** Chain of the filter-table guard; undefined = no guard (upstream's rules only). */
  readonly guardChain?: string;
  /**
   * Redirect chains of ours that this configuration no longer uses (the migration chain once NMI is
   * back on `aad-metadata`): removed, with their jumps, after our own redirect is in place.
   */
  readonly retiredChains?: readonly string[];
}

/** One iptables command, as argv after `iptables -t nat` (e.g. `['-N', 'aad-metadata']`). */
export type IptablesCommand = readonly string[];

export interface SyncPlan {
  /** Empty when the table already matches. */
  readonly commands: readonly IptablesCommand[];
  /** What differed, for logs and `onRestored` (empty when nothing did). */
  readonly reasons: readonly string[];
}

/** What the node's `filter` table holds now, for the guard. */
export interface ObservedGuard {
  /** `iptables -t filter -S <guard chain>`; undefined when the chain does not exist. */
  readonly chain: string | undefined;
  /** `iptables -t filter -S <hook>` for each of {@link GUARD_HOOKS}. */
  readonly hooks: Readonly<Record<(typeof GUARD_HOOKS)[number], string>>;
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

/** iptables' own limit: up to 28 characters (XT_EXTENSION_MAXNAMELEN − 1 for user chains), no blanks. */
export function isChainName(text: string): boolean {
  return CHAIN_NAME.test(text);
}

/** Rejects configurations that would produce a wrong or unparsable rule (retrying cannot fix them). */
export function validateIptablesConfig(config: IptablesConfig): IptablesConfig {
  const problems: string[] = [];
  const retired = config.retiredChains ?? [];
  for (const chain of [config.chain, ...(config.guardChain === undefined ? [] : [config.guardChain]), ...retired]) {
    if (!isChainName(chain)) problems.push(`chain name ${JSON.stringify(chain)} is not a valid iptables chain name`);
  }
  if (config.guardChain === config.chain) problems.push('the guard chain needs a name of its own');
  if (retired.includes(config.chain)) problems.push(`chain ${config.chain} cannot be both used and retired`);
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

/** The guard's reject rule, as `-S` prints it (after `-A <chain>`). */
function guardSpec(config: IptablesConfig): string[] {
  return [
    '-d', `${config.metadataIp}/32`,
    '!', '-i', 'lo',
    '-p', 'tcp', '-m', 'tcp', '--dport', String(config.metadataPort),
    '-j', 'REJECT', '--reject-with', 'tcp-reset',
  ];
}

/** The exact lines of `iptables -t filter -S <guard chain>` when the guard is right. */
export function expectedGuardRules(config: IptablesConfig & { readonly guardChain: string }): string[] {
  return [`-N ${config.guardChain}`, `-A ${config.guardChain} ${guardSpec(config).join(' ')}`, `-A ${config.guardChain} -j RETURN`];
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

/** 1-based rule positions (as `-I`/`-D <n>` count them) of the jump to `chain` in a `-S <hook>` listing. */
function hookJumpPositions(chain: string, hook: string, listing: string): number[] {
  const rules = listingLines(listing).filter((line) => line.startsWith(`-A ${hook} `));
  const jump = `-A ${hook} -j ${chain}`;
  const positions: number[] = [];
  rules.forEach((rule, index) => {
    if (rule === jump) positions.push(index + 1);
  });
  return positions;
}

/** 1-based rule positions (as `-I`/`-D <n>` count them) of our jump in a `-S PREROUTING` listing. */
export function jumpPositions(config: IptablesConfig, prerouting: string): number[] {
  return hookJumpPositions(config.chain, PREROUTING, prerouting);
}

/** Chains that PREROUTING jumps to unconditionally (`-A PREROUTING -j <chain>`, as NMIs install them), in order. */
export function preroutingJumpTargets(prerouting: string): string[] {
  const prefix = `-A ${PREROUTING} -j `;
  return listingLines(prerouting)
    .filter((line) => line.startsWith(prefix) && !line.slice(prefix.length).includes(' '))
    .map((line) => line.slice(prefix.length));
}

/** Whether a `-S <chain>` listing DNATs TCP to the metadata address and port: someone's redirect (e.g. aad-pod-identity's `aad-metadata`). */
export function redirectsMetadata(config: Pick<IptablesConfig, 'metadataIp' | 'metadataPort'>, listing: string): boolean {
  return listingLines(listing).some((line) => {
    const words = line.split(' ');
    return words.includes('DNAT') && line.includes(` -d ${config.metadataIp}/32 `) && line.includes(` --dport ${String(config.metadataPort)} `) && words.includes('tcp');
  });
}

/** One custom chain, its exact rules and the built-in chains that must jump to it first. */
interface ChainPlanSpec {
  readonly chain: string;
  /** Rule specs after `-A <chain>`. */
  readonly rules: readonly (readonly string[])[];
  /** Observed `-S <chain>` (undefined: missing). */
  readonly observedChain: string | undefined;
  /** Built-in chain → its observed `-S` listing. */
  readonly hooks: ReadonlyMap<string, string>;
}

/**
 * Commands that make one chain right: present with exactly its rules, and exactly one jump to it,
 * first in each hook (upstream only checks that a jump exists; a rule placed before it could accept
 * pod traffic to IMDS un-redirected). Wrong jumps are deleted by rule text, never by position, so a
 * concurrent writer (kube-proxy, a CNI) cannot make us delete one of its rules.
 */
function planChain(spec: ChainPlanSpec): SyncPlan {
  const commands: IptablesCommand[] = [];
  const reasons: string[] = [];
  const content = spec.rules.map((rule) => ['-A', spec.chain, ...rule]);
  if (spec.observedChain === undefined) {
    reasons.push(`chain ${spec.chain} missing`);
    commands.push(['-N', spec.chain], ...content);
  } else {
    const actual = listingLines(spec.observedChain);
    const expected = [`-N ${spec.chain}`, ...spec.rules.map((rule) => `-A ${spec.chain} ${rule.join(' ')}`)];
    if (actual.length !== expected.length || actual.some((line, i) => line !== expected[i])) {
      reasons.push(`chain ${spec.chain} content differs (${actual.length - 1} rules, expected ${expected.length - 1})`);
      commands.push(['-F', spec.chain], ...content);
    }
  }
  for (const [hook, listing] of spec.hooks) {
    const positions = hookJumpPositions(spec.chain, hook, listing);
    const insertFirst: IptablesCommand = ['-I', hook, '1', '-j', spec.chain];
    if (positions.length === 0) {
      reasons.push(`jump to ${spec.chain} missing from ${hook}`);
      commands.push(insertFirst);
    } else if (positions.length > 1 || positions[0] !== 1) {
      if (positions[0] !== 1) reasons.push(`jump to ${spec.chain} is rule ${positions[0]} of ${hook}, not 1`);
      if (positions.length > 1) reasons.push(`${positions.length} jumps to ${spec.chain} in ${hook}`);
      // Atomic in one transaction, so there is no moment without the jump.
      for (const _ of positions) commands.push(['-D', hook, '-j', spec.chain]);
      commands.push(insertFirst);
    }
  }
  return { commands, reasons };
}

/** Commands that make the `nat` table right (upstream's chain, jumped to first from PREROUTING). */
export function planSync(config: IptablesConfig, observed: ObservedState): SyncPlan {
  return planChain({ chain: config.chain, rules: [dnatSpec(config), ['-j', 'RETURN']], observedChain: observed.chain, hooks: new Map([[PREROUTING, observed.prerouting]]) });
}

/** Commands that make the `filter` table's guard right (nothing when the config has no guard). */
export function planGuard(config: IptablesConfig, observed: ObservedGuard): SyncPlan {
  if (config.guardChain === undefined) return { commands: [], reasons: [] };
  return planChain({ chain: config.guardChain, rules: [guardSpec(config), ['-j', 'RETURN']], observedChain: observed.chain, hooks: new Map(GUARD_HOOKS.map((hook) => [hook, observed.hooks[hook]])) });
}

/** Commands that remove the guard: the jumps, then the chain's rules, then the chain. */
export function planGuardCleanup(config: IptablesConfig, observed: ObservedGuard): IptablesCommand[] {
  if (config.guardChain === undefined) return [];
  const chain = config.guardChain;
  const commands: IptablesCommand[] = GUARD_HOOKS.flatMap((hook) => hookJumpPositions(chain, hook, observed.hooks[hook]).map((): IptablesCommand => ['-D', hook, '-j', chain]));
  if (observed.chain !== undefined) commands.push(['-F', chain], ['-X', chain]);
  return commands;
}

/** Commands that remove every trace: the jump(s), then the chain's rules, then the chain. */
export function planCleanup(config: IptablesConfig, observed: ObservedState): IptablesCommand[] {
  const commands: IptablesCommand[] = jumpPositions(config, observed.prerouting).map((): IptablesCommand => ['-D', PREROUTING, '-j', config.chain]);
  if (observed.chain !== undefined) commands.push(['-F', config.chain], ['-X', config.chain]);
  return commands;
}
